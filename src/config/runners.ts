import { z } from "zod";
import { canonicalCidr, hasHostBits, parseCidr } from "./cidr";
import {
    ARM64_GPU_INSTANCE_FAMILIES,
    GPU_INSTANCE_FAMILIES,
    GRAVITON_EXAMPLES,
    instanceFamily,
    isGravitonFamily,
    isInstanceTypeShape,
} from "./instanceTypes";
import { sshPublicKeyProblem } from "./sshPublicKey";

/**
 * The `builders` config key (its name is part of every stack file): where images are built.
 * `local` is the Docker daemon of the machine running Pulumi (DOCKER_HOST or the default
 * socket); `ec2` is build runners the stack owns on EC2, reached over ssh.
 */
export const localBuildersSchema = z.strictObject({
    mode: z.literal("local"),
    /** Network mode for RUN instructions, e.g. "host" on a daemon without a bridge network. */
    network: z
        .string()
        .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "must be a Docker network name such as host")
        .optional(),
});

/**
 * The EC2 runner pools: GPU images for linux/amd64 build on `gpu`, CPU images for linux/amd64
 * on `cpu` when there is one, every linux/arm64 image on `arm64`.
 */
export const RUNNER_POOLS = ["gpu", "cpu", "arm64"] as const;
export type RunnerPool = (typeof RUNNER_POOLS)[number];

/**
 * How the machine running Pulumi reaches a runner's sshd: `ssh` straight to the runner's
 * Elastic IP, from `allowedCidrs`; `ssm` through AWS Systems Manager Session Manager, with no
 * inbound rule at all (for CI, whose addresses are not fixed).
 */
export const RUNNER_ACCESS = ["ssh", "ssm"] as const;
export type RunnerAccess = (typeof RUNNER_ACCESS)[number];

/** Limits that keep a typo from becoming a bill; raise them here if a pool really needs more. */
export const RUNNER_LIMITS = {
    maxCount: 16,
    /** The Deep Learning AMI's own root snapshot is large, and one CUDA layer is several GB. */
    minVolumeGiB: { gpu: 100, cpu: 30, arm64: 30 },
    maxVolumeGiB: 16384,
    minIdleStopMinutes: 5,
    maxIdleStopMinutes: 1440,
} as const;

const EXAMPLE_TYPE: Readonly<Record<RunnerPool, string>> = { gpu: "g6.xlarge", cpu: "c7i.2xlarge", arm64: "c7g.2xlarge" };
const EXAMPLE_VOLUME: Readonly<Record<RunnerPool, number>> = { gpu: 200, cpu: 100, arm64: 100 };
const GRAVITON_ALLOWED = `Graviton families: a1 and those with a g after the generation, e.g. ${GRAVITON_EXAMPLES.join(", ")} (${ARM64_GPU_INSTANCE_FAMILIES.join(", ")} with NVIDIA GPUs)`;

/** Why an instance type does not fit a pool, or undefined when it does. */
function instanceTypeProblem(pool: RunnerPool, type: string): string | undefined {
    const family = instanceFamily(type);
    if (family === undefined) return undefined;
    const graviton = isGravitonFamily(family);
    switch (pool) {
        case "gpu":
            if (graviton) {
                return `is a Graviton (arm64) type; the gpu pool builds linux/amd64 images, so put it in builders.arm64, or use an x86_64 NVIDIA family here: ${GPU_INSTANCE_FAMILIES.join(", ")}`;
            }
            if (!(GPU_INSTANCE_FAMILIES as readonly string[]).includes(family)) {
                return (
                    `is not an NVIDIA GPU instance type the Deep Learning Base GPU AMI supports (family ${JSON.stringify(family)}); ` +
                    `allowed families: ${GPU_INSTANCE_FAMILIES.join(", ")}, e.g. g6.xlarge`
                );
            }
            return undefined;
        case "cpu":
            return graviton
                ? `is a Graviton (arm64) type; the cpu pool builds linux/amd64 images, so use an x86_64 family such as c7i, c6i, m7i or c7a (arm64 types go in builders.arm64)`
                : undefined;
        case "arm64":
            return graviton
                ? undefined
                : `is not a Graviton (arm64) type (family ${JSON.stringify(family)}); the arm64 pool builds linux/arm64 images natively; allowed: ${GRAVITON_ALLOWED}`;
    }
}

function instanceTypeSchema(pool: RunnerPool) {
    const example = EXAMPLE_TYPE[pool];
    return z
        .string({ error: `expected an EC2 instance type such as ${example}` })
        .refine(isInstanceTypeShape, `must be an EC2 instance type such as ${example}`)
        .superRefine((type, ctx) => {
            const problem = instanceTypeProblem(pool, type);
            if (problem) ctx.addIssue({ code: "custom", message: problem });
        });
}

const COUNT_MIN_MESSAGE: Readonly<Record<RunnerPool, string>> = {
    gpu: "must be at least 1: GPU images need a GPU runner",
    cpu: "must be at least 1; to build CPU images on the gpu pool, leave the cpu pool out",
    arm64: "must be at least 1; a stack without linux/arm64 images leaves the arm64 pool out",
};

function poolSchema(pool: RunnerPool) {
    const minVolume = RUNNER_LIMITS.minVolumeGiB[pool];
    return z.strictObject(
        {
            instanceType: instanceTypeSchema(pool),
            count: z
                .number({ error: "expected a whole number of runners, such as 1" })
                .int("must be a whole number of runners")
                .min(1, COUNT_MIN_MESSAGE[pool])
                .max(RUNNER_LIMITS.maxCount, `must be at most ${RUNNER_LIMITS.maxCount}`),
            volumeSizeGiB: z
                .number({ error: `expected the root volume size in GiB, such as ${EXAMPLE_VOLUME[pool]}` })
                .int("must be a whole number of GiB")
                .min(minVolume, `must be at least ${minVolume} GiB for the ${pool} pool (the AMI and the image layers must fit)`)
                .max(RUNNER_LIMITS.maxVolumeGiB, `must be at most ${RUNNER_LIMITS.maxVolumeGiB} GiB (the gp3 limit)`),
            ami: z
                .string({ error: "expected an AMI id such as ami-0123456789abcdef0" })
                .regex(
                    /^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/,
                    "must be an AMI id such as ami-0123456789abcdef0 (or leave it out to use the newest matching AMI)",
                )
                .optional(),
            spot: z.boolean({ error: "expected true or false" }).default(false),
        },
        {
            error: (iss) =>
                iss.code === "invalid_type" ? `expected an object { instanceType, count, volumeSizeGiB, ami?, spot? }` : undefined,
        },
    );
}

const cidrSchema = z.string({ error: 'expected a CIDR block as a string, such as "203.0.113.7/32"' }).superRefine((text, ctx) => {
    const cidr = parseCidr(text);
    if (!cidr) {
        ctx.addIssue({
            code: "custom",
            message: "is not a CIDR block; allowed: an IPv4 or IPv6 address with a prefix length, such as 203.0.113.7/32 or 2001:db8::/48",
        });
        return;
    }
    if (hasHostBits(cidr)) {
        // EC2 rejects such a block; say which one was meant rather than widening it silently.
        ctx.addIssue({
            code: "custom",
            message: `has bits set after its /${cidr.prefix} prefix; did you mean ${JSON.stringify(canonicalCidr(cidr))} (or /${cidr.family === 4 ? 32 : 128} for one address)?`,
        });
    }
});

const ALLOWED_CIDRS_EXPECTED =
    'expected the list of CIDR blocks allowed to reach the runners over ssh, such as ["203.0.113.7/32"] ([] means no inbound at all)';

export const ec2BuildersSchema = z
    .strictObject({
        mode: z.literal("ec2"),
        gpu: poolSchema("gpu"),
        cpu: poolSchema("cpu").optional(),
        arm64: poolSchema("arm64").optional(),
        access: z
            .enum(RUNNER_ACCESS, {
                error: `expected how runners are reached; allowed: ${RUNNER_ACCESS.map((a) => JSON.stringify(a)).join(", ")}`,
            })
            .default("ssh"),
        sshUser: z
            .string({ error: "expected a user name such as ubuntu" })
            .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Linux user name such as ubuntu (lower-case letters, digits, "_" and "-")')
            .refine((u) => u !== "root", {
                message: "must not be root: builds run as an unprivileged user in the docker group, such as ubuntu",
            })
            .default("ubuntu"),
        sshPublicKey: z
            .string({ error: "expected the operator's ssh public key, the one line of e.g. ~/.ssh/id_ed25519.pub" })
            .trim()
            .superRefine((key, ctx) => {
                const problem = sshPublicKeyProblem(key);
                if (problem) ctx.addIssue({ code: "custom", message: problem });
            }),
        sshPrivateKeyPath: z
            .string({ error: "expected a path such as ~/.ssh/truss-builders" })
            .regex(/^[^\s"'\\]+$/, "must be a file path without spaces or quotes, such as ~/.ssh/truss-builders")
            .refine((p) => !p.endsWith(".pub"), {
                message: "names a public key; give the private key file the ssh client uses, or leave it out to use the ssh agent",
            })
            .optional(),
        /** Required with `access: ssh`; with `access: ssm` there is no inbound rule to fill. */
        allowedCidrs: z
            .array(cidrSchema, { error: (iss) => (iss.code === "invalid_type" ? ALLOWED_CIDRS_EXPECTED : undefined) })
            .superRefine((list, ctx) => {
                const seen = new Set<string>();
                list.forEach((c, i) => {
                    if (seen.has(c)) ctx.addIssue({ code: "custom", path: [i], message: "duplicate entry (each block may appear once)" });
                    seen.add(c);
                });
            })
            .optional(),
        idleStopMinutes: z
            .number({ error: "expected a number of minutes, such as 30" })
            .int("must be a whole number of minutes")
            .min(RUNNER_LIMITS.minIdleStopMinutes, `must be at least ${RUNNER_LIMITS.minIdleStopMinutes} minutes`)
            .max(RUNNER_LIMITS.maxIdleStopMinutes, `must be at most ${RUNNER_LIMITS.maxIdleStopMinutes} minutes (a day)`)
            .default(30),
    })
    .superRefine(
        (b, ctx) => {
            if (b.access !== "ssm" && b.allowedCidrs === undefined) {
                ctx.addIssue({ code: "custom", path: ["allowedCidrs"], message: `required with access: ssh; ${ALLOWED_CIDRS_EXPECTED}` });
            }
            if (b.access === "ssm" && Array.isArray(b.allowedCidrs) && b.allowedCidrs.length > 0) {
                ctx.addIssue({
                    code: "custom",
                    path: ["allowedCidrs"],
                    message: `has no effect with access: ssm (the runners take no inbound connection at all); remove it, or use access: ssh`,
                });
            }
        },
        // Also when other keys are wrong: every mistake is reported at once.
        { when: (payload) => typeof payload.value === "object" && payload.value !== null },
    );

export const BUILDER_MODES = ["local", "ec2"] as const;

export const buildersSchema = z.discriminatedUnion("mode", [localBuildersSchema, ec2BuildersSchema], {
    error: `unknown builder mode; allowed: ${BUILDER_MODES.map((m) => JSON.stringify(m)).join(", ")}`,
});

export type BuildersConfig = z.infer<typeof buildersSchema>;
export type LocalBuildersConfig = z.infer<typeof localBuildersSchema>;
export type Ec2BuildersConfig = z.infer<typeof ec2BuildersSchema>;
/** One pool of `builders: { mode: ec2 }`: instance type, count, volume, AMI override, spot. */
export type PoolConfig = NonNullable<Ec2BuildersConfig["gpu"]>;

/** What to change when linux/arm64 is asked of ec2 builders without an arm64 pool. */
export const ARM64_POOL_MISSING =
    "add builders.arm64, a Graviton pool such as { instanceType: c7g.2xlarge, count: 1, volumeSizeGiB: 100 } " +
    "(g5g.xlarge to smoke-test GPU images on a GPU), or drop linux/arm64 from matrix.platforms";

/** A config problem at a key path, as the stack config reports it. */
export interface ConfigProblem {
    readonly path: readonly (string | number)[];
    readonly message: string;
}

/**
 * What is wrong with asking these builders for these platforms (empty when nothing). Takes the
 * config as parsed so far, possibly invalid elsewhere, so that every mistake is reported at once.
 */
export function platformProblems(builders: unknown, platforms: readonly unknown[]): ConfigProblem[] {
    if (builders === null || typeof builders !== "object") return [];
    const b = builders as { readonly mode?: unknown; readonly arm64?: unknown };
    if (b.mode !== "ec2" || b.arm64 !== undefined || !platforms.includes("linux/arm64")) return [];
    return [
        {
            path: ["builders", "arm64"],
            message: `is required: matrix.platforms includes linux/arm64 and builders.mode is ec2, and only an arm64 pool builds arm64 images natively; ${ARM64_POOL_MISSING}`,
        },
    ];
}
