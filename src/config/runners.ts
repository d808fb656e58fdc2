import { isIPv4, isIPv6 } from "net";
import { z } from "zod";
import type { Accelerator } from "../images/catalog";

/**
 * The `builders` config key: where images are built. `local` is the Docker daemon of the
 * machine running Pulumi (DOCKER_HOST or the default socket); `ec2` is build runners the stack
 * owns on EC2 (SPEC section 4), reached over ssh.
 */
export const localBuildersSchema = z.strictObject({
    mode: z.literal("local"),
    /** Network mode for RUN instructions, e.g. "host" on a daemon without a bridge network. */
    network: z
        .string()
        .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "must be a Docker network name such as host")
        .optional(),
});

/** The EC2 runner pools: GPU images build on `gpu`, CPU images on `cpu` when there is one. */
export const RUNNER_POOLS = ["gpu", "cpu"] as const;
export type RunnerPool = (typeof RUNNER_POOLS)[number];

/**
 * Instance families with NVIDIA GPUs on x86_64 that the AWS Deep Learning Base GPU AMI
 * (Ubuntu 22.04) drives. The images are linux/amd64 and need CUDA, so nothing else can build
 * and smoke-test them.
 */
export const GPU_INSTANCE_FAMILIES = ["g4dn", "g5", "g6", "g6e", "gr6", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en"] as const;

/** Limits that keep a typo from becoming a bill; raise them here if a pool really needs more. */
export const RUNNER_LIMITS = {
    maxCount: 16,
    /** The Deep Learning AMI's own root snapshot is large, and one CUDA layer is several GB. */
    minVolumeGiB: { gpu: 100, cpu: 30 },
    maxVolumeGiB: 16384,
    minIdleStopMinutes: 5,
    maxIdleStopMinutes: 1440,
} as const;

/** SSH public key types OpenSSH accepts for authorized_keys. */
export const SSH_KEY_TYPES = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
] as const;

const INSTANCE_TYPE = /^([a-z][a-z0-9-]*)\.([a-z0-9]+)$/;

/** `g6.xlarge` -> `g6`; undefined when it is not shaped like an instance type. */
export function instanceFamily(instanceType: string): string | undefined {
    return INSTANCE_TYPE.exec(instanceType)?.[1];
}

/** Graviton (arm64) families: `a1`, and a `g` among the letters after the generation (c7g, m6gd, im4gn). */
export function isArmFamily(family: string): boolean {
    if (family === "a1") return true;
    const suffix = /^[a-z]+\d+([a-z-]*)$/.exec(family)?.[1];
    return suffix !== undefined && suffix.split("-")[0].includes("g");
}

function instanceTypeSchema(pool: RunnerPool) {
    const example = pool === "gpu" ? "g6.xlarge" : "c7i.2xlarge";
    return z
        .string({ error: `expected an EC2 instance type such as ${example}` })
        .regex(INSTANCE_TYPE, `must be an EC2 instance type such as ${example}`)
        .superRefine((type, ctx) => {
            const family = instanceFamily(type);
            if (family === undefined) return;
            if (pool === "gpu" && !(GPU_INSTANCE_FAMILIES as readonly string[]).includes(family)) {
                ctx.addIssue({
                    code: "custom",
                    message:
                        `is not an NVIDIA GPU instance type the Deep Learning Base GPU AMI supports (family ${JSON.stringify(family)}); ` +
                        `allowed families: ${GPU_INSTANCE_FAMILIES.join(", ")}, e.g. g6.xlarge`,
                });
            } else if (pool === "cpu" && isArmFamily(family)) {
                ctx.addIssue({
                    code: "custom",
                    message: `is a Graviton (arm64) type; the images are linux/amd64, so use an x86_64 family such as c7i, c6i, m7i or c7a`,
                });
            }
        });
}

function poolSchema(pool: RunnerPool) {
    const minVolume = RUNNER_LIMITS.minVolumeGiB[pool];
    return z.strictObject(
        {
            instanceType: instanceTypeSchema(pool),
            count: z
                .number({ error: "expected a whole number of runners, such as 1" })
                .int("must be a whole number of runners")
                .min(
                    1,
                    pool === "cpu"
                        ? "must be at least 1; to build CPU images on the gpu pool, leave the cpu pool out"
                        : "must be at least 1: GPU images need a GPU runner",
                )
                .max(RUNNER_LIMITS.maxCount, `must be at most ${RUNNER_LIMITS.maxCount}`),
            volumeSizeGiB: z
                .number({ error: `expected the root volume size in GiB, such as ${pool === "gpu" ? 200 : 100}` })
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

/** Parses an SSH public key line; returns a problem (what is wrong and what is allowed) or undefined. */
export function sshPublicKeyProblem(text: string): string | undefined {
    if (/PRIVATE KEY/.test(text)) {
        return "is a private key; give the public key instead (the one line of the .pub file); a private key must never be in config or state";
    }
    const shape = "must be one line `<type> <base64 key> [comment]`, as in ~/.ssh/id_ed25519.pub";
    const m = /^(\S+) ([A-Za-z0-9+/]+={0,3})(?: [^\r\n]*)?$/.exec(text);
    if (!m) return `${shape}; allowed types: ${SSH_KEY_TYPES.join(", ")}`;
    const [, type, blob] = m;
    if (!(SSH_KEY_TYPES as readonly string[]).includes(type))
        return `has the key type ${JSON.stringify(type)}; allowed types: ${SSH_KEY_TYPES.join(", ")}`;
    const bytes = Buffer.from(blob, "base64");
    const nameLength = bytes.length >= 4 ? bytes.readUInt32BE(0) : -1;
    const embedded = nameLength > 0 && 4 + nameLength <= bytes.length ? bytes.subarray(4, 4 + nameLength).toString("latin1") : undefined;
    if (embedded !== type || bytes.length < 4 + nameLength + 32) {
        return `${shape}; its base64 part is not a ${type} key (truncated or pasted from another key?)`;
    }
    return undefined;
}

/** A parsed CIDR block: its family, address bits and prefix length. */
export interface Cidr {
    readonly family: 4 | 6;
    readonly address: bigint;
    readonly prefix: number;
}

function ipv4Bits(address: string): bigint {
    return address.split(".").reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

function ipv6Bits(address: string): bigint {
    let text = address;
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
    if (v4) {
        const bits = ipv4Bits(v4[1]);
        text = `${text.slice(0, -v4[1].length)}${(bits >> 16n).toString(16)}:${(bits & 0xffffn).toString(16)}`;
    }
    const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
    const headGroups = head ? head.split(":") : [];
    const tailGroups = tail ? tail.split(":") : [];
    const groups =
        tail === undefined ? headGroups : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
    return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function formatIPv4(bits: bigint): string {
    return [24n, 16n, 8n, 0n].map((s) => String((bits >> s) & 0xffn)).join(".");
}

function formatIPv6(bits: bigint): string {
    const groups = Array.from({ length: 8 }, (_, i) => ((bits >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
    let best = { at: -1, len: 0 };
    for (let i = 0; i < 8;) {
        if (groups[i] !== "0") {
            i++;
            continue;
        }
        let j = i;
        while (j < 8 && groups[j] === "0") j++;
        if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
        i = j;
    }
    if (best.at < 0) return groups.join(":");
    return `${groups.slice(0, best.at).join(":")}::${groups.slice(best.at + best.len).join(":")}`;
}

/** Parses `203.0.113.7/32` or `2001:db8::/32`; undefined when it is not a CIDR block. */
export function parseCidr(text: string): Cidr | undefined {
    const m = /^([^/\s]+)\/(\d{1,3})$/.exec(text);
    if (!m) return undefined;
    const prefix = Number(m[2]);
    if (isIPv4(m[1]) && prefix <= 32) return { family: 4, address: ipv4Bits(m[1]), prefix };
    if (isIPv6(m[1]) && prefix <= 128 && !m[1].includes("%")) return { family: 6, address: ipv6Bits(m[1]), prefix };
    return undefined;
}

function networkBits(cidr: Cidr): bigint {
    const hostBits = BigInt((cidr.family === 4 ? 32 : 128) - cidr.prefix);
    return (cidr.address >> hostBits) << hostBits;
}

/** The canonical text of a CIDR block: host bits cleared. */
export function canonicalCidr(cidr: Cidr): string {
    const network = networkBits(cidr);
    return `${cidr.family === 4 ? formatIPv4(network) : formatIPv6(network)}/${cidr.prefix}`;
}

/** The blocks of a list that let the whole internet in (`0.0.0.0/0`, `::/0`). */
export function worldOpenCidrs(cidrs: readonly string[]): string[] {
    return cidrs.filter((c) => parseCidr(c)?.prefix === 0);
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
    if (networkBits(cidr) !== cidr.address) {
        // EC2 rejects such a block; say which one was meant rather than widening it silently.
        ctx.addIssue({
            code: "custom",
            message: `has bits set after its /${cidr.prefix} prefix; did you mean ${JSON.stringify(canonicalCidr(cidr))} (or /${cidr.family === 4 ? 32 : 128} for one address)?`,
        });
    }
});

export const ec2BuildersSchema = z.strictObject({
    mode: z.literal("ec2"),
    gpu: poolSchema("gpu"),
    cpu: poolSchema("cpu").optional(),
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
    allowedCidrs: z
        .array(cidrSchema, {
            error: (iss) =>
                iss.code === "invalid_type"
                    ? `expected the list of CIDR blocks allowed to reach the runners over ssh, such as ["203.0.113.7/32"] ([] means no inbound at all)`
                    : undefined,
        })
        .superRefine((list, ctx) => {
            const seen = new Set<string>();
            list.forEach((c, i) => {
                if (seen.has(c)) ctx.addIssue({ code: "custom", path: [i], message: "duplicate entry (each block may appear once)" });
                seen.add(c);
            });
        }),
    idleStopMinutes: z
        .number({ error: "expected a number of minutes, such as 30" })
        .int("must be a whole number of minutes")
        .min(RUNNER_LIMITS.minIdleStopMinutes, `must be at least ${RUNNER_LIMITS.minIdleStopMinutes} minutes`)
        .max(RUNNER_LIMITS.maxIdleStopMinutes, `must be at most ${RUNNER_LIMITS.maxIdleStopMinutes} minutes (a day)`)
        .default(30),
});

export const BUILDER_MODES = ["local", "ec2"] as const;

export const buildersSchema = z.discriminatedUnion("mode", [localBuildersSchema, ec2BuildersSchema], {
    error: `unknown builder mode; allowed: ${BUILDER_MODES.map((m) => JSON.stringify(m)).join(", ")}`,
});

export type BuildersConfig = z.infer<typeof buildersSchema>;
export type LocalBuildersConfig = z.infer<typeof localBuildersSchema>;
export type Ec2BuildersConfig = z.infer<typeof ec2BuildersSchema>;
/** One pool of `builders: { mode: ec2 }`: instance type, count, volume, AMI override, spot. */
export type PoolConfig = Ec2BuildersConfig["gpu"];

/** The runner pool an image is built on: the local daemon, or an EC2 pool. */
export type Pool = "local" | RunnerPool;

/** GPU images build on the gpu pool; CPU images on the cpu pool when there is one, else the gpu pool. */
export function poolOf(accelerator: Accelerator, builders: BuildersConfig): Pool {
    if (builders.mode === "local") return "local";
    return accelerator === "gpu" || builders.cpu === undefined ? "gpu" : "cpu";
}
