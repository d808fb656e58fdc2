import { createHash } from "crypto";
import type { Ec2BuildersConfig, RunnerPool } from "../config/runners";
import type { ImageSpec } from "../images/spec";
import { variant } from "../images/naming";
import type { PublishAction } from "../publish/plannedImages";
import { needsBuild } from "../publish/classify";

/**
 * EC2 build runners as the pure core sees them: which runners a config asks for, which image
 * builds on which runner, and the command lines that reach a runner's Docker daemon. Nothing
 * here knows Pulumi or runs a process.
 */

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

/** Every runner of the config, gpu pool first. */
export function runnersOf(builders: Ec2BuildersConfig): RunnerId[] {
    const out: RunnerId[] = [];
    for (let i = 0; i < builders.gpu.count; i++) out.push(runnerId("gpu", i));
    for (let i = 0; i < (builders.cpu?.count ?? 0); i++) out.push(runnerId("cpu", i));
    return out;
}

/** What assignment needs of a planned image. */
export interface AssignableImage {
    readonly spec: ImageSpec;
    /** `docker.io/baseten/truss-server-base` */
    readonly repository: string;
    /** The image's pool (src/config/runners.ts, poolOf). */
    readonly pool: string;
}

/**
 * The key an image is placed by: its repository and variant (`...truss-server-base:3.9-gpu`),
 * never its version tag, so a version bump keeps every image on the runner that has its layers.
 */
export function assignmentKey(image: AssignableImage): string {
    return `${image.repository}:${variant(image.spec)}`;
}

/** Rendezvous (highest random weight) score of a runner for a key: the first 8 bytes of a sha256. */
export function rendezvousWeight(runner: string, key: string): bigint {
    return createHash("sha256").update(`${runner}\n${key}`).digest().readBigUInt64BE(0);
}

/**
 * The runner of a pool that builds the image with this key: the one with the highest
 * rendezvous weight. Each image's choice depends only on its own key and the runners of its
 * pool, so adding or removing an image moves no other image, and adding or removing a runner
 * moves only the images that go to, or came from, that runner. Over many images each runner
 * gets an even share in expectation.
 */
export function pickRunner(key: string, runners: readonly RunnerId[]): RunnerId {
    if (runners.length === 0) throw new Error(`no runner to build ${key} on`);
    let best = runners[0];
    let bestWeight = rendezvousWeight(best.name, key);
    for (const r of runners.slice(1)) {
        const w = rendezvousWeight(r.name, key);
        if (w > bestWeight || (w === bestWeight && r.name < best.name)) [best, bestWeight] = [r, w];
    }
    return best;
}

/** The runner of each image, by position in `images`. Every image must be in an EC2 pool. */
export function assignRunners(images: readonly AssignableImage[], builders: Ec2BuildersConfig): RunnerId[] {
    const all = runnersOf(builders);
    return images.map((image) => {
        const pool = all.filter((r) => r.pool === image.pool);
        if (pool.length === 0) throw new Error(`image ${assignmentKey(image)} is in pool ${image.pool}, which has no runners`);
        return pickRunner(assignmentKey(image), pool);
    });
}

/** Whether an image's runner is needed in this update: exactly the images that are built. */
export function needsRunner(action: PublishAction): boolean {
    return needsBuild({ action });
}

// --- Reaching a runner -------------------------------------------------------------------

/** Where the ssh client keeps what it learns about the runners: known hosts and control sockets. */
export const SSH_STATE_DIR = "~/.ssh/truss-base-images";
export const KNOWN_HOSTS_FILE = `${SSH_STATE_DIR}/known_hosts`;
/** `%C` is a hash of (local host, remote host, port, user): short enough for a socket path. */
export const CONTROL_PATH = `${SSH_STATE_DIR}/cm-%C`;
export const SSH_CONNECT_TIMEOUT_SECONDS = 15;

/**
 * The ssh options of the Docker provider and of everything else that talks to a runner, so
 * that they share one connection. `~` is expanded by ssh itself: the options are the same
 * text on every operator's machine, so the provider's inputs do not change between machines.
 * - BatchMode: never prompt (a prompt would hang `pulumi up`);
 * - ControlMaster/ControlPersist: parallel builds share one authenticated connection;
 * - a dedicated known_hosts, trusting a runner's key on first use (accept-new) and refusing a
 *   changed one;
 * - keepalives, so a runner that stopped is noticed within a minute.
 */
export function sshOptions(opts: { readonly privateKeyPath?: string }): string[] {
    const o = (kv: string) => ["-o", kv];
    return [
        ...o("BatchMode=yes"),
        ...o(`ConnectTimeout=${SSH_CONNECT_TIMEOUT_SECONDS}`),
        ...o("ServerAliveInterval=15"),
        ...o("ServerAliveCountMax=4"),
        ...o("StrictHostKeyChecking=accept-new"),
        ...o(`UserKnownHostsFile=${KNOWN_HOSTS_FILE}`),
        ...o("ControlMaster=auto"),
        ...o(`ControlPath=${CONTROL_PATH}`),
        ...o("ControlPersist=10m"),
        ...(opts.privateKeyPath ? ["-i", opts.privateKeyPath, ...o("IdentitiesOnly=yes")] : []),
    ];
}

/** `ssh://ubuntu@203.0.113.10`: the Docker host of a runner. */
export function sshDockerHost(user: string, address: string): string {
    return `ssh://${user}@${address}`;
}

/** A Docker daemon as a client reaches it: `ssh://user@host` plus ssh options, or a local `unix://` socket. */
export interface DockerEndpoint {
    readonly host: string;
    /** Only for ssh:// hosts. */
    readonly sshOpts?: readonly string[];
}

/** A process to run: no shell in between. */
export interface CommandLine {
    readonly file: string;
    readonly args: readonly string[];
}

/** `ssh://user@host[:port]` -> its parts; undefined for other schemes. */
export function parseSshHost(host: string): { user?: string; hostname: string; port?: number } | undefined {
    const m = /^ssh:\/\/(?:([^@/]+)@)?([^:/]+)(?::(\d+))?\/?$/.exec(host);
    if (!m) return undefined;
    return { user: m[1], hostname: m[2], port: m[3] ? Number(m[3]) : undefined };
}

/** One word for a POSIX shell, quoted only when it needs to be. */
export function shellQuote(word: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * `ssh <options> [-p port] user@host -- <command>`: the same ssh command line Docker's ssh
 * transport runs for the provider (`... -- docker system dial-stdio`), with another remote
 * command. The remote command is one shell string (ssh hands it to the login shell).
 * `overrides` come first because ssh keeps the first value it is given for an option.
 */
export function sshCommand(endpoint: DockerEndpoint, remote: string, overrides: readonly string[] = []): CommandLine {
    const ssh = parseSshHost(endpoint.host);
    if (!ssh) throw new Error(`${endpoint.host} is not an ssh:// Docker host`);
    const destination = ssh.user ? `${ssh.user}@${ssh.hostname}` : ssh.hostname;
    return {
        file: "ssh",
        args: [...overrides, ...(endpoint.sshOpts ?? []), "-T", ...(ssh.port ? ["-p", String(ssh.port)] : []), destination, "--", remote],
    };
}

/** `docker <args>` against an endpoint: the remote CLI over ssh, else the local CLI with `-H`. */
export function dockerCommand(endpoint: DockerEndpoint, dockerArgs: readonly string[]): CommandLine {
    if (parseSshHost(endpoint.host)) return sshCommand(endpoint, ["docker", ...dockerArgs].map(shellQuote).join(" "));
    return { file: "docker", args: ["-H", endpoint.host, ...dockerArgs] };
}

/** A command line as an operator would paste it into a shell. */
export function showCommand(c: CommandLine): string {
    return [c.file, ...c.args].map(shellQuote).join(" ");
}

// --- Readiness ---------------------------------------------------------------------------

/** One check of the readiness gate and how to read its result. */
export interface ReadinessStep {
    /** What the step establishes, for messages: `cloud-init finished`. */
    readonly what: string;
    readonly command: CommandLine;
    /** Exit codes that mean success. */
    readonly okExitCodes: readonly number[];
}

/**
 * cloud-init's exit codes: 0 done, 2 done with recoverable errors (e.g. deprecated keys),
 * 1 failed. On failure, print what an operator needs: the status and the end of the log.
 */
const CLOUD_INIT_WAIT = [
    "cloud-init status --wait >/dev/null 2>&1; rc=$?",
    'if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then cloud-init status --long; tail -n 40 /var/log/cloud-init-output.log; fi',
    'exit "$rc"',
].join("; ");

/** `<server version> <runtime>,<runtime>,...` */
const DOCKER_INFO_FORMAT = "{{.ServerVersion}} {{range $name, $_ := .Runtimes}}{{$name}},{{end}}";

/**
 * The readiness gate's steps, in order. Over ssh: wait for cloud-init (on its own connection,
 * so that no shared connection is authenticated before setup added the user to the docker
 * group), close any shared connection older than that, then `docker info` over the provider's
 * very options. Locally: `docker info` only.
 */
export function readinessSteps(endpoint: DockerEndpoint, opts: { readonly waitForCloudInit: boolean }): ReadinessStep[] {
    const info: ReadinessStep = {
        what: "the Docker daemon answers `docker info`",
        command: dockerCommand(endpoint, ["info", "--format", DOCKER_INFO_FORMAT]),
        okExitCodes: [0],
    };
    if (!parseSshHost(endpoint.host)) return [info];
    const unshared = ["-o", "ControlMaster=no", "-o", "ControlPath=none"];
    const steps: ReadinessStep[] = [];
    if (opts.waitForCloudInit) {
        steps.push({
            what: "ssh answers and cloud-init finished",
            command: sshCommand(endpoint, CLOUD_INIT_WAIT, unshared),
            okExitCodes: [0, 2],
        });
    }
    steps.push({
        what: "no shared ssh connection predates the runner's setup",
        command: sshCommand(endpoint, "true", ["-O", "exit"]),
        okExitCodes: [0, 255],
    });
    steps.push(info);
    return steps;
}

/** What `docker info` with DOCKER_INFO_FORMAT printed. */
export function parseDockerInfo(stdout: string): { serverVersion: string; runtimes: string[] } {
    const [serverVersion = "", runtimes = ""] = stdout.trim().split(/\s+/, 2);
    return {
        serverVersion,
        runtimes: runtimes
            .split(",")
            .filter((r) => r !== "")
            .sort(),
    };
}

/** How a failed step's output reads: whether waiting longer can help, and what to tell the operator. */
export interface FailureReading {
    readonly retry: boolean;
    readonly hint?: string;
}

/**
 * Reads a failed readiness step. Failures that booting explains (no route yet, sshd not up,
 * the key not installed yet, the daemon starting) are retried until the deadline; the others
 * stop the wait at once. Hints name the config key or command that fixes the usual cause.
 */
export function readFailure(step: ReadinessStep, exitCode: number, output: string, context: { readonly host: string }): FailureReading {
    const ssh = parseSshHost(context.host);
    if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/i.test(output)) {
        return {
            retry: false,
            hint:
                `the runner's host key is not the one recorded in ${KNOWN_HOSTS_FILE}. If the instance was replaced, remove the old key: ` +
                `ssh-keygen -R ${ssh?.hostname ?? "<address>"} -f ${KNOWN_HOSTS_FILE}`,
        };
    }
    if (/Could not resolve hostname/i.test(output)) return { retry: false, hint: "the runner's address does not resolve" };
    if (/timed out|No route to host|Network is unreachable/i.test(output)) {
        return {
            retry: true,
            hint: "nothing answered on port 22: the instance may still be starting or be stopped, or your public address is not in builders.allowedCidrs",
        };
    }
    if (/Connection refused|Connection reset|Connection closed|kex_exchange_identification/i.test(output)) {
        return { retry: true, hint: "sshd refused or closed the connection: the instance is probably still booting" };
    }
    if (/Permission denied \(publickey/i.test(output)) {
        return {
            retry: true,
            hint: "ssh rejected the key: load the private key of builders.sshPublicKey into your ssh agent (ssh-add) or set builders.sshPrivateKeyPath",
        };
    }
    if (/permission denied while trying to connect to the docker (daemon|API)/i.test(output)) {
        return { retry: true, hint: "the ssh user is not (yet) in the docker group on the runner" };
    }
    if (/Cannot connect to the Docker daemon|Is the docker daemon running/i.test(output)) {
        return { retry: true, hint: "the Docker daemon is not running (yet) at this address" };
    }
    if (exitCode === 127 || /command not found/i.test(output)) {
        return { retry: false, hint: "a command the runner needs is missing: is the AMI the one the pool expects (builders.<pool>.ami)?" };
    }
    if (step.what.startsWith("ssh answers and cloud-init")) {
        if (exitCode === 255) return { retry: true };
        return {
            retry: false,
            hint: "the runner's setup (cloud-init user data) failed; its log is above. Fix the cause, then replace the instance (pulumi up --replace <its URN>)",
        };
    }
    return { retry: exitCode === 255 };
}

/** Error text that says which runner, at which address, failed which step, and what to do. */
export function notReadyMessage(args: {
    readonly runner: string;
    readonly host: string;
    readonly seconds: number;
    readonly timedOut: boolean;
    readonly step: ReadinessStep;
    readonly exitCode: number;
    readonly output: string;
    readonly hint?: string;
    readonly configHint?: string;
}): string {
    const when = args.timedOut ? `was not ready within ${args.seconds} s` : `is not usable`;
    const lines = [
        `Build runner ${args.runner} (${args.host}) ${when}: the check "${args.step.what}" failed (exit code ${args.exitCode}).`,
        `  command: ${showCommand(args.step.command)}`,
    ];
    const out = tailLines(args.output, 40);
    if (out) lines.push("  output:", ...out.split("\n").map((l) => `    ${l}`));
    if (args.hint) lines.push(`  likely cause: ${args.hint}`);
    if (args.configHint) lines.push(`  note: ${args.configHint}`);
    return lines.join("\n");
}

/** The last `n` lines of a text, without trailing blank lines. */
export function tailLines(text: string, n: number): string {
    return text.trimEnd().split("\n").slice(-n).join("\n");
}

/** A note for the gate's errors when the config makes the runners unreachable. */
export function reachabilityNote(builders: Ec2BuildersConfig): string | undefined {
    if (builders.allowedCidrs.length === 0) {
        return 'builders.allowedCidrs is [], so the security group lets no one in over ssh; add your public address, e.g. ["203.0.113.7/32"]';
    }
    return undefined;
}

// --- Instances ---------------------------------------------------------------------------

/** How a pool's AMI is found when its config names none: the newest x86_64 image matching these. */
export const AMI_QUERIES: Readonly<
    Record<RunnerPool, { readonly owners: readonly string[]; readonly name: string; readonly what: string }>
> = {
    gpu: {
        owners: ["amazon"],
        name: "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *",
        what: "the AWS Deep Learning Base GPU AMI (Ubuntu 22.04): NVIDIA driver, Docker and the NVIDIA container toolkit",
    },
    cpu: {
        // Canonical's account; the user data installs Docker.
        owners: ["099720109477"],
        name: "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*",
        what: "Canonical's Ubuntu 22.04 server AMI",
    },
};

/** The readiness gate waits this long for a runner (first boot of a GPU AMI takes minutes). */
export const READY_TIMEOUT_SECONDS = 900;
/** A smoke test may take this long (starting a multi-GB GPU image, pip check). */
export const SMOKE_TIMEOUT_SECONDS = 900;

/** Tags on every resource of a runner pool; `runner` also on the resources of one runner. */
export function runnerTags(a: {
    readonly project: string;
    readonly stack: string;
    readonly pool: RunnerPool;
    readonly runner?: RunnerId;
}): Record<string, string> {
    const name = `${a.project}-${a.stack}-${a.runner ? `runner-${a.runner.name}` : `runners-${a.pool}`}`;
    return { Name: name, project: a.project, stack: a.stack, pool: a.pool, ...(a.runner ? { runner: a.runner.name } : {}) };
}
