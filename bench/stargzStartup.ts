// The eStargz-vs-gzip start-up figure of `npm run bench:images`: the time from starting the pull
// to the end of `python3 -c "import fastapi"` in a container of the image, on a cold containerd
// (a fresh root each run), for the image pushed as built (gzip, pulled whole and unpacked on the
// overlayfs snapshotter) and for its eStargz conversion (pulled lazily: the stargz snapshotter
// mounts each layer over FUSE and fetches files from the registry as they are read).
// The stargz snapshotter is our own small Go program (tools/stargz-snapshotter) over the library
// of the version pinned in its go.mod, built once into the user's cache.
import { ChildProcess, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { estargzScript } from "../src/runners/estargz";
import { startContainerd, TestContainerd } from "../test/support/containerd";
import { docker } from "../test/support/docker";
import { PROJECT_DIR } from "../test/support/fixtures";
import { cacheRoot } from "../test/support/standIns";
import type { TestRegistry } from "../test/support/registry";

const RUNS = 3;
const TOOL_DIR = path.join(PROJECT_DIR, "tools", "stargz-snapshotter");
const TOOL_FILES = ["go.mod", "go.sum", "main.go"];
const PLATFORM = "linux/amd64";
const IMPORT = ["python3", "-c", "import fastapi"];

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Run {
    code: number;
    out: string;
}

/** Runs a command to its end; standard input closed, output kept (both streams). */
function run(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
    return new Promise((resolve) => {
        const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ["pipe", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        child.once("error", (e) => resolve({ code: -1, out: `${out}${e.message}` }));
        child.once("close", (code) => resolve({ code: code ?? -1, out }));
        child.stdin.end(opts.input ?? "");
    });
}

async function must(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
    const r = await run(file, args, opts);
    if (r.code !== 0)
        throw new Error(`\`${[file, ...args].join(" ")}\` failed (${r.code}):\n${r.out.trim().split("\n").slice(-15).join("\n")}`);
    return r.out;
}

type Snapshotter = { binary: string; note: string } | { error: string };

/**
 * The snapshotter's binary, in `${XDG_CACHE_HOME:-~/.cache}/truss-base-images/tools/` under a
 * name keyed by the hash of go.mod, go.sum and main.go: built (`go mod download`, then
 * `go build`) only when that key is new, so later runs start at once.
 */
export async function ensureSnapshotter(): Promise<Snapshotter> {
    const hash = crypto.createHash("sha256");
    for (const f of TOOL_FILES) hash.update(`${f}\0${fs.readFileSync(path.join(TOOL_DIR, f), "utf8")}\0`);
    const binary = path.join(cacheRoot(), "tools", `stargz-snapshotter-${hash.digest("hex").slice(0, 16)}`);
    if (fs.existsSync(binary)) return { binary, note: `cached (${binary})` };
    fs.mkdirSync(path.dirname(binary), { recursive: true });
    const tmp = `${binary}.tmp-${process.pid}`;
    // The module proxy only (the go.sum checks what it serves); go.mod and go.sum are never rewritten.
    const env = { ...process.env, GOFLAGS: "-mod=readonly", GOPROXY: process.env.GOPROXY || "https://proxy.golang.org" };
    const steps: [string, string[]][] = [
        ["go", ["mod", "download"]],
        ["go", ["build", "-trimpath", "-o", tmp, "."]],
    ];
    const took: string[] = [];
    for (const [file, args] of steps) {
        const t = Date.now();
        const r = await run(file, args, { cwd: TOOL_DIR, env });
        if (r.code !== 0) {
            fs.rmSync(tmp, { force: true });
            const tail = r.out.trim().split("\n").slice(-8).join("\n    ");
            return { error: `\`${[file, ...args].join(" ")}\` in tools/stargz-snapshotter failed (exit ${r.code}):\n    ${tail}` };
        }
        took.push(`${args[0] === "mod" ? "go mod download" : "go build"} ${s(Date.now() - t)}`);
    }
    fs.renameSync(tmp, binary);
    return { binary, note: `built into ${binary} (${took.join(", ")})` };
}

/** Our snapshotter on a socket of its own, under `dir`; stop() unmounts its FUSE layers. */
async function startSnapshotter(
    binary: string,
    dir: string,
    registryHost: string,
): Promise<{ socket: string; root: string; log: () => string; stop(): Promise<void> }> {
    const root = path.join(dir, "stargz-root");
    const socket = path.join(dir, "stargz.sock");
    const logPath = path.join(dir, "stargz.log");
    const fd = fs.openSync(logPath, "w");
    const child: ChildProcess = spawn(binary, ["-root", root, "-address", socket, "-plain-http", registryHost], {
        stdio: ["ignore", fd, fd],
    });
    fs.closeSync(fd);
    const log = () => (fs.existsSync(logPath) ? fs.readFileSync(logPath, "utf8") : "");
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const stop = async () => {
        if (child.exitCode === null && child.signalCode === null) {
            child.kill("SIGTERM");
            await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        }
        // Whatever it left mounted (if killed), so the folder can go.
        for (const m of fuseMounts(root).reverse()) await run("umount", ["-l", m]);
    };
    const deadline = Date.now() + 20_000;
    while (!fs.existsSync(socket)) {
        if (child.exitCode !== null || Date.now() > deadline) {
            await stop();
            throw new Error(`the stargz snapshotter did not start; its log:\n${log().trim().split("\n").slice(-15).join("\n")}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    return { socket, root, log, stop };
}

/** The FUSE mount points under `root` (the stargz snapshotter's layers), from /proc/self/mountinfo. */
function fuseMounts(root: string): string[] {
    return fs
        .readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .map((l) => l.split(" "))
        .filter((f) => f.length > 4 && f[4].startsWith(root + "/") && (f[f.indexOf("-") + 1] ?? "").startsWith("fuse"))
        .map((f) => f[4]);
}

interface Sample {
    ms: number;
    /** eStargz only: layers mounted lazily (over FUSE), and the snapshotter's fallbacks to a full pull. */
    fuse?: number;
    fallbacks?: number;
}

async function timedStart(c: TestContainerd, ref: string, id: string, stargz: boolean): Promise<number> {
    const a = ["--address", c.address];
    const t = Date.now();
    if (stargz) await must("ctr-remote", [...a, "image", "rpull", "--plain-http", "--snapshotter", "stargz", ref]);
    else await must("ctr", [...a, "image", "pull", "--plain-http", "--platform", PLATFORM, ref]);
    await must("ctr", [...a, "run", "--net-host", ...(stargz ? ["--snapshotter", "stargz"] : []), ref, id, ...IMPORT]);
    const ms = Date.now() - t;
    await run("ctr", [...a, "containers", "rm", id]);
    return ms;
}

async function sample(kind: "gzip" | "estargz", ref: string, binary: string, registryHost: string, n: number): Promise<Sample> {
    const id = `bench-${kind}-${process.pid}-${n}`;
    if (kind === "gzip") {
        const c = await startContainerd();
        try {
            return { ms: await timedStart(c, ref, id, false) };
        } finally {
            await c.stop();
        }
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "truss-stargz-"));
    const sn = await startSnapshotter(binary, dir, registryHost);
    let c: TestContainerd | undefined;
    try {
        c = await startContainerd({ proxySnapshotters: { stargz: sn.socket } });
        const ms = await timedStart(c, ref, id, true);
        const fuse = fuseMounts(sn.root).length;
        const fallbacks = (sn.log().match(/failed to prepare remote snapshot/g) ?? []).length;
        return { ms, fuse, fallbacks };
    } finally {
        await c?.stop();
        await sn.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/**
 * The figure's lines: the image (a local Docker image) pushed to the loopback registry as built
 * (gzip) and converted to eStargz the project's way (src/runners/estargz.ts, on a containerd of its
 * own), then RUNS cold start-ups of each, interleaved.
 */
export async function stargzStartup(registry: TestRegistry, image: string): Promise<string[]> {
    const head = `eStargz vs gzip start-up (run to \`python3 -c "import fastapi"\` on a cold containerd, median of ${RUNS})`;
    const sn = await ensureSnapshotter();
    if ("error" in sn)
        return [`${head}: cannot run here: the stargz snapshotter (tools/stargz-snapshotter) did not build:`, `    ${sn.error}`];
    const gzip = `${registry.host}/bench/startup:gzip`;
    const esgz = `${registry.host}/bench/startup:estargz`;
    await docker(["tag", image, gzip]);
    try {
        await docker(["push", gzip]);
    } finally {
        await docker(["image", "rm", gzip], { allowFailure: true });
    }
    const conv = await startContainerd();
    const convertStart = Date.now();
    try {
        const script = estargzScript({
            source: gzip,
            target: esgz,
            platform: PLATFORM,
            plainHttp: true,
            address: conv.address,
            sudo: false,
        });
        await must("sh", ["-c", script]);
    } finally {
        await conv.stop();
    }
    const convertMs = Date.now() - convertStart;
    const manifest = (await (
        await fetch(`${registry.url}/v2/bench/startup/manifests/estargz`, {
            headers: { Accept: "application/vnd.oci.image.manifest.v1+json" },
        })
    ).json()) as { layers: unknown[] };

    const samples: Record<"gzip" | "estargz", Sample[]> = { gzip: [], estargz: [] };
    for (let n = 0; n < RUNS; n++) {
        samples.gzip.push(await sample("gzip", gzip, sn.binary, registry.host, n));
        samples.estargz.push(await sample("estargz", esgz, sn.binary, registry.host, n));
    }
    const g = median(samples.gzip.map((x) => x.ms));
    const e = median(samples.estargz.map((x) => x.ms));
    const runs = (xs: Sample[]) => xs.map((x) => s(x.ms)).join(", ");
    const fuse = samples.estargz.map((x) => x.fuse ?? 0);
    const fallbacks = samples.estargz.reduce((a, x) => a + (x.fallbacks ?? 0), 0);
    const layers = manifest.layers.length;
    const lazy =
        Math.min(...fuse) === 0
            ? `NOT LAZY: a run had no FUSE mount (the snapshotter fell back to a full pull; ${fallbacks} "failed to prepare remote snapshot")`
            : fallbacks > 0
              ? `partly lazy: ${fuse.join("/")} FUSE layer mounts of ${layers} layers, ${fallbacks} fallbacks to a full pull of a layer`
              : `lazy: ${fuse.join("/")} FUSE layer mounts (of ${layers} layers), no fallback to a full pull`;
    return [
        head,
        `  gzip    (ctr image pull + ctr run, overlayfs)            ${s(g)}  (runs ${runs(samples.gzip)})`,
        `  eStargz (ctr-remote image rpull + ctr run, stargz)       ${s(e)}  (runs ${runs(samples.estargz)}; ${lazy})`,
        `  ratio eStargz / gzip                                     ${(e / g).toFixed(2)}`,
        "  includes: the pull from the loopback registry (resolve, fetch; gzip: download and unpack every layer; eStargz: the",
        "    TOCs and the FUSE mounts), creating and starting the container, the import of fastapi (eStargz: the files it reads",
        "    fetched on demand, plus the snapshotter's background fetch of the rest), the task's exit.",
        `  excludes: starting containerd and the snapshotter (each run has fresh roots), the push and the conversion (${s(convertMs)}),`,
        "    removing the container; the registry is on loopback (no network latency or bandwidth limit, its blobs in the page cache).",
        `  snapshotter: tools/stargz-snapshotter, ${sn.note}`,
    ];
}
