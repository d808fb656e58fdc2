// The real Docker daemon for the integration tests: the CLI with the classic builder (there is
// no buildx plugin here), a daemon started as scripts/setup.sh starts it when none answers, and the
// `docker build` arguments the Pulumi program's docker.Image gets for a staged context.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildArgsWithDigest, StagedContext } from "../../src/images/context";

export interface DockerResult {
    stdout: string;
    stderr: string;
    code: number;
}

export interface DockerOptions {
    /** Written to the command's standard input. */
    input?: string | Buffer;
    /** Added to this process's environment. DOCKER_BUILDKIT is always 0. */
    env?: NodeJS.ProcessEnv;
    /** Resolve with the exit code instead of throwing on a non-zero exit. */
    allowFailure?: boolean;
}

/** ext4 (statfs's EXT2/3/4 magic) and xfs: overlay2 works on them; vfs works anywhere (scripts/setup.sh chooses alike). */
const OVERLAY2_FILE_SYSTEMS = [0xef53, 0x58465342];

function storageDriver(): string {
    try {
        return OVERLAY2_FILE_SYSTEMS.includes(fs.statfsSync("/var/lib").type) ? "overlay2" : "vfs";
    } catch {
        return "vfs";
    }
}

const DOCKERD_FLAGS = ["--iptables=false", "--ip6tables=false", "--bridge=none", `--storage-driver=${storageDriver()}`];
const DOCKERD_LOG = path.join(os.tmpdir(), "truss-base-images-dockerd.log");
const DAEMON_START_TIMEOUT_MS = 60_000;

function run(
    command: string,
    args: readonly string[],
    opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<DockerResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, {
            env: opts.env ?? process.env,
            stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
            timeout: opts.timeoutMs,
        });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout?.on("data", (d: Buffer) => out.push(d));
        child.stderr?.on("data", (d: Buffer) => err.push(d));
        child.once("error", reject);
        child.once("close", (code, signal) =>
            resolve({
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: Buffer.concat(err).toString("utf8") + (signal ? `\n(killed by ${signal})` : ""),
                code: code ?? 128,
            }),
        );
        if (opts.input !== undefined && child.stdin) {
            child.stdin.on("error", () => undefined); // the command may exit before reading it all
            child.stdin.end(opts.input);
        }
    });
}

/**
 * Runs `docker <args>` with the classic builder (DOCKER_BUILDKIT=0). Throws an error naming the
 * command and its stderr on a non-zero exit, unless `allowFailure`.
 */
export async function docker(args: string[], opts: DockerOptions = {}): Promise<DockerResult> {
    const env = { ...process.env, ...opts.env, DOCKER_BUILDKIT: "0" };
    let result: DockerResult;
    try {
        result = await run("docker", args, { input: opts.input, env });
    } catch (e) {
        throw new Error(
            `could not run docker ${args.join(" ")}: ${(e as Error).message}; install it with \`apt-get install -y docker.io\``,
        );
    }
    if (result.code !== 0 && !opts.allowFailure) {
        // A classic build reports a failing step on stdout, the CLI's own errors go to stderr.
        const output = [tail(result.stdout, 40), tail(result.stderr, 20)].filter((t) => t !== "").join("\n");
        throw new Error(`docker ${args.join(" ")} exited with code ${result.code}:\n${output}`);
    }
    return result;
}

function tail(text: string, lines: number): string {
    return text.trimEnd().split("\n").slice(-lines).join("\n");
}

async function daemonAnswers(): Promise<boolean> {
    try {
        const r = await run("docker", ["info", "--format", "{{.ServerVersion}}"], { timeoutMs: 10_000 });
        return r.code === 0 && r.stdout.trim() !== "";
    } catch {
        return false;
    }
}

let daemonReady: Promise<void> | undefined;

/**
 * Makes sure a Docker daemon answers: if `docker info` fails, starts dockerd with the flags
 * scripts/setup.sh uses (no iptables, no bridge, overlay2 storage on ext4 or xfs, vfs elsewhere), detached so that it outlives the tests, and
 * waits for it. Idempotent.
 */
export function ensureDockerDaemon(): Promise<void> {
    daemonReady ??= startDaemonIfNeeded().catch((e) => {
        daemonReady = undefined;
        throw e;
    });
    return daemonReady;
}

async function startDaemonIfNeeded(): Promise<void> {
    if (await daemonAnswers()) return;
    if (typeof process.getuid === "function" && process.getuid() !== 0) {
        throw new Error(
            "no Docker daemon answers `docker info`, and starting dockerd needs root: run npm run setup, or start the daemon yourself",
        );
    }
    const logFd = fs.openSync(DOCKERD_LOG, "a");
    fs.writeSync(logFd, `--- ${new Date().toISOString()}: dockerd ${DOCKERD_FLAGS.join(" ")}, started by the integration tests\n`);
    const child = spawn("dockerd", DOCKERD_FLAGS, { detached: true, stdio: ["ignore", logFd, logFd] });
    fs.closeSync(logFd);
    let exit: string | undefined;
    let spawnError: Error | undefined;
    let deadline = Date.now() + DAEMON_START_TIMEOUT_MS;
    child.once("error", (e) => (spawnError = e));
    child.once("exit", (code, signal) => {
        exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
        // Another process may be starting a daemon at the same time (ours then finds its pid
        // file): give that one a moment before giving up.
        deadline = Math.min(deadline, Date.now() + 15_000);
    });
    child.unref();
    while (Date.now() < deadline) {
        if (spawnError) {
            throw new Error(`could not start dockerd (${spawnError.message}); install it with \`apt-get install -y docker.io\``);
        }
        if (await daemonAnswers()) return;
        await new Promise((r) => setTimeout(r, 500));
    }
    const log = fs.existsSync(DOCKERD_LOG) ? tail(fs.readFileSync(DOCKERD_LOG, "utf8"), 30) : "(no log)";
    const what = exit
        ? `${exit}, and no Docker daemon answers \`docker info\``
        : `did not answer \`docker info\` within ${DAEMON_START_TIMEOUT_MS / 1000} s`;
    throw new Error(`dockerd ${DOCKERD_FLAGS.join(" ")} ${what}; the end of ${DOCKERD_LOG}:\n${log}`);
}

/**
 * `docker build` arguments (starting with "build") for a staged context written with
 * writeContext to `contextDir`: the same inputs src/pulumi/baseImage.ts gives docker.Image
 * (platform, build args with the content digest, the staged Dockerfile), on the host network,
 * tagged `reference`.
 */
export function buildCommandArgs(staged: StagedContext, contextDir: string, reference: string): string[] {
    const args = ["build", "--platform", staged.platform];
    for (const [key, value] of Object.entries(buildArgsWithDigest(staged)).sort(([a], [b]) => (a < b ? -1 : 1))) {
        args.push("--build-arg", `${key}=${value}`);
    }
    args.push("-f", `${contextDir}/Dockerfile`, "--network", "host", "-t", reference, contextDir);
    return args;
}
