import type { Accelerator } from "../images/dimensions";
import { ARM64_POOL_MISSING, BuildersConfig, Ec2BuildersConfig, RunnerPool } from "../config/runners";
import { hasNvidiaGpu } from "../config/instanceTypes";

/** Which pool builds an image, and which runners a pool has. */

/** Where an image is built: the local daemon, or a pool of EC2 runners. */
export type Pool = "local" | RunnerPool;

/** The platform of an image that names none: what every stack built before platforms existed. */
export const DEFAULT_PLATFORM = "linux/amd64";
/** Platforms the runners build natively. */
export const RUNNER_PLATFORMS = ["linux/amd64", "linux/arm64"] as const;

/**
 * The pool an image builds on. linux/amd64: GPU images on `gpu`, CPU images on `cpu` when there
 * is one, else on `gpu`. linux/arm64: every image, CPU and GPU, on `arm64` (the only arm64
 * machines). The local daemon builds everything. Throws for a platform no pool builds: the
 * config check (platformProblems) reports that first, with what to change.
 */
export function poolOf(accelerator: Accelerator, builders: BuildersConfig, platform: string = DEFAULT_PLATFORM): Pool {
    if (builders.mode === "local") return "local";
    switch (platform) {
        case "linux/amd64":
            return accelerator === "gpu" || builders.cpu === undefined ? "gpu" : "cpu";
        case "linux/arm64":
            if (builders.arm64 === undefined) throw new Error(`no arm64 pool to build a linux/arm64 image on: ${ARM64_POOL_MISSING}`);
            return "arm64";
        default:
            throw new Error(`no runner pool builds ${platform}; runners build ${RUNNER_PLATFORMS.join(", ")}`);
    }
}

/** Whether the machines of a pool have an NVIDIA GPU. */
export function poolHasNvidiaGpu(pool: RunnerPool, builders: Ec2BuildersConfig): boolean {
    const config = builders[pool];
    return config !== undefined && hasNvidiaGpu(config.instanceType);
}

/** One runner: `gpu-0` is the first instance of the gpu pool. */
export interface RunnerId {
    readonly pool: RunnerPool;
    readonly index: number;
    /** `gpu-0`: stable for the pool and index, used in resource names and messages. */
    readonly name: string;
}

export function runnerId(pool: RunnerPool, index: number): RunnerId {
    return { pool, index, name: `${pool}-${index}` };
}

/** Every runner of the config, pool by pool (gpu, cpu, arm64). */
export function runnersOf(builders: Ec2BuildersConfig): RunnerId[] {
    const out: RunnerId[] = [];
    for (const pool of ["gpu", "cpu", "arm64"] as const) {
        for (let i = 0; i < (builders[pool]?.count ?? 0); i++) out.push(runnerId(pool, i));
    }
    return out;
}
