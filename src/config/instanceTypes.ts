/**
 * EC2 instance types as the runner pools see them: the family, the CPU architecture and whether
 * it has an NVIDIA GPU. No library knows EC2's naming, and AWS's own list needs an API call, so
 * this is a short table for the GPU families (few, and each needs a driver the AMI must have) and
 * a naming rule for Graviton (new Graviton families keep it: `g` after the generation).
 */

/**
 * Families with NVIDIA GPUs on x86_64 that the AWS Deep Learning Base GPU AMI (Ubuntu 22.04)
 * drives: the only machines that can build and smoke-test linux/amd64 CUDA images.
 */
export const GPU_INSTANCE_FAMILIES = ["g4dn", "g5", "g6", "g6e", "gr6", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en"] as const;

/** Graviton families with NVIDIA GPUs (g5g: Graviton2 and NVIDIA T4G), driven by the arm64 Deep Learning Base GPU AMI. */
export const ARM64_GPU_INSTANCE_FAMILIES = ["g5g"] as const;

/** Examples for messages: current Graviton families, general purpose and compute first. */
export const GRAVITON_EXAMPLES = ["c7g", "m7g", "r7g", "c8g", "m8g", "t4g", "c6g", "m6g", "g5g"] as const;

const INSTANCE_TYPE = /^([a-z][a-z0-9-]*)\.([a-z0-9]+)$/;

/** Whether a string is shaped like an instance type (`g6.xlarge`). */
export function isInstanceTypeShape(text: string): boolean {
    return INSTANCE_TYPE.test(text);
}

/** `g6.xlarge` -> `g6`; undefined when it is not shaped like an instance type. */
export function instanceFamily(instanceType: string): string | undefined {
    return INSTANCE_TYPE.exec(instanceType)?.[1];
}

/** Graviton (arm64) families: `a1`, and a `g` among the letters after the generation (c7g, m6gd, im4gn, g5g). */
export function isGravitonFamily(family: string): boolean {
    if (family === "a1") return true;
    const suffix = /^[a-z]+\d+([a-z-]*)$/.exec(family)?.[1];
    return suffix !== undefined && suffix.split("-")[0].includes("g");
}

export type Architecture = "x86_64" | "arm64";

/** The CPU architecture of an instance type (EC2's own names, as AMI look-ups filter by them). */
export function architectureOf(instanceType: string): Architecture {
    const family = instanceFamily(instanceType);
    return family !== undefined && isGravitonFamily(family) ? "arm64" : "x86_64";
}

/** Whether an instance type has an NVIDIA GPU the Deep Learning Base GPU AMIs drive. */
export function hasNvidiaGpu(instanceType: string): boolean {
    const family = instanceFamily(instanceType) ?? "";
    return ([...GPU_INSTANCE_FAMILIES, ...ARM64_GPU_INSTANCE_FAMILIES] as readonly string[]).includes(family);
}
