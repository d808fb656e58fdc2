// A containerd of the test's own, under a temporary folder (root, state and socket there), for
// the eStargz conversion tests and the bench's start-up figure: started on demand, stopped by its
// pid afterwards. Optionally with proxy snapshotters (a snapshots gRPC API on a unix socket each,
// e.g. the stargz snapshotter that bench/stargzStartup.ts builds).
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface TestContainerd {
    /** The gRPC socket, for `ctr --address`. */
    readonly address: string;
    /** The temporary folder (root, state, socket, log): removed by stop(). */
    readonly dir: string;
    stop(): Promise<void>;
}

export interface ContainerdOptions {
    /** How long to wait for `ctr version` to answer. */
    timeoutMs?: number;
    /** Snapshotters served by other processes, by name (`ctr run --snapshotter NAME`): their sockets. */
    proxySnapshotters?: Record<string, string>;
}

function exited(child: ChildProcess): Promise<void> {
    return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
    });
}

export async function startContainerd(options: number | ContainerdOptions = {}): Promise<TestContainerd> {
    const { timeoutMs = 20_000, proxySnapshotters = {} } = typeof options === "number" ? { timeoutMs: options } : options;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "truss-ctrd-"));
    const address = path.join(dir, "c.sock");
    const config = path.join(dir, "config.toml");
    fs.writeFileSync(
        config,
        [
            "version = 2",
            `root = ${JSON.stringify(path.join(dir, "root"))}`,
            `state = ${JSON.stringify(path.join(dir, "state"))}`,
            "[grpc]",
            `  address = ${JSON.stringify(address)}`,
            ...Object.entries(proxySnapshotters).flatMap(([name, socket]) => [
                `[proxy_plugins.${JSON.stringify(name)}]`,
                '  type = "snapshot"',
                `  address = ${JSON.stringify(socket)}`,
            ]),
            "",
        ].join("\n"),
    );
    const logPath = path.join(dir, "containerd.log");
    const logFd = fs.openSync(logPath, "w");
    const child = spawn("containerd", ["--config", config], { stdio: ["ignore", logFd, logFd] });
    fs.closeSync(logFd);
    let spawnError: Error | undefined;
    child.once("error", (e) => (spawnError = e));
    const stop = async (): Promise<void> => {
        if (child.exitCode === null && child.signalCode === null) {
            child.kill("SIGTERM");
            const done = await Promise.race([exited(child).then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
            if (!done) {
                child.kill("SIGKILL");
                await exited(child);
            }
        }
        fs.rmSync(dir, { recursive: true, force: true });
    };
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !spawnError && child.exitCode === null) {
        const r = spawnSync("ctr", ["--address", address, "version"], { encoding: "utf8", timeout: 5000 });
        if (r.status === 0) return { address, dir, stop };
        await new Promise((r) => setTimeout(r, 300));
    }
    const log = fs.existsSync(logPath) ? fs.readFileSync(logPath, "utf8").split("\n").slice(-20).join("\n") : "";
    await stop();
    throw new Error(
        spawnError
            ? `could not start containerd (${spawnError.message}); install it with \`apt-get install -y containerd stargz-snapshotter\``
            : `containerd did not answer \`ctr version\` within ${timeoutMs} ms; its log:\n${log}`,
    );
}
