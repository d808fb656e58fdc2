// A real OpenSSH server on loopback in front of this machine's Docker daemon, standing in for a
// build runner: its own config, host key (made here, or the one a test gives, as a runner's user
// data gives it) and authorized key, a `cloud-init` stub on the sessions' PATH whose answer the
// test chooses, started on a free port (or the one given) and stopped by pid.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { freePort } from "./ports";

const SSHD = "/usr/sbin/sshd";
const START_TIMEOUT_MS = 10_000;

export interface LoopbackSshd {
    readonly port: number;
    /** The account that logs in: this process's user (sshd run by a user lets only that user in). */
    readonly user: string;
    /** The private key sshd accepts (no passphrase). */
    readonly clientKey: string;
    /** Another private key, one sshd does not accept. */
    readonly strangerKey: string;
    /** The public half of the host key sshd presents: `ssh-ed25519 AAAA...`. */
    readonly hostPublicKey: string;
    /** What the `cloud-init status --wait` stub answers: done (exit 0) or error (exit 1, as a failed setup). */
    setCloudInit(status: "done" | "error"): void;
    /** The server's log so far. */
    log(): string;
    stop(): Promise<void>;
}

function accepts(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect({ port, host: "127.0.0.1" });
        socket.once("connect", () => {
            socket.destroy();
            resolve(true);
        });
        socket.once("error", () => resolve(false));
    });
}

export interface LoopbackSshdOptions {
    /** The host key sshd presents (an OpenSSH private key, as a runner's user data installs it); a new one when absent. */
    readonly hostKey?: string;
    /** The port to listen on (e.g. a stopped server's, as a replaced instance answers at its Elastic IP); a free one when absent. */
    readonly port?: number;
}

export async function startLoopbackSshd(opts: LoopbackSshdOptions = {}): Promise<LoopbackSshd> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "loopback-sshd-"));
    const keygen = (file: string) => execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "loopback-test", "-f", file]);
    const hostKey = path.join(dir, "host_key");
    const clientKey = path.join(dir, "client_key");
    const strangerKey = path.join(dir, "stranger_key");
    if (opts.hostKey !== undefined) fs.writeFileSync(hostKey, opts.hostKey, { mode: 0o600 });
    (opts.hostKey !== undefined ? [clientKey, strangerKey] : [hostKey, clientKey, strangerKey]).forEach(keygen);
    const hostPublicKey = execFileSync("ssh-keygen", ["-y", "-f", hostKey], { encoding: "utf8" }).trim();
    fs.copyFileSync(`${clientKey}.pub`, path.join(dir, "authorized_keys"));

    const remoteBin = path.join(dir, "remote-bin");
    fs.mkdirSync(remoteBin);
    const statusFile = path.join(dir, "cloud-init-status");
    fs.writeFileSync(statusFile, "done");
    fs.writeFileSync(
        path.join(remoteBin, "cloud-init"),
        `#!/bin/sh
status=$(cat ${statusFile})
echo "status: $status"
[ "$status" = done ] || { echo "cloud-init stub: the runner's setup failed" >&2; exit 1; }
`,
        { mode: 0o755 },
    );

    const port = opts.port ?? (await freePort());
    const user = os.userInfo().username;
    const config = path.join(dir, "sshd_config");
    fs.writeFileSync(
        config,
        [
            `Port ${port}`,
            "ListenAddress 127.0.0.1",
            `HostKey ${hostKey}`,
            `PidFile ${path.join(dir, "sshd.pid")}`,
            `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
            // The key files live under the temporary folder, which is world-writable.
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            `SetEnv PATH=${remoteBin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
            // As the runners' user data sets them: parallel sessions on one connection.
            "MaxStartups 200:30:400",
            "MaxSessions 200",
            "",
        ].join("\n"),
    );
    // Run as root, sshd needs its privilege separation directory.
    if (process.getuid?.() === 0) fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    execFileSync(SSHD, ["-t", "-f", config]);

    const logChunks: Buffer[] = [];
    const child: ChildProcess = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (d: Buffer) => logChunks.push(d));
    child.stderr?.on("data", (d: Buffer) => logChunks.push(d));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const log = () => Buffer.concat(logChunks).toString("utf8");

    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await accepts(port))) {
        if (child.exitCode !== null || Date.now() > deadline) {
            child.kill("SIGKILL");
            throw new Error(`sshd did not listen on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms:\n${log()}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }

    return {
        port,
        user,
        clientKey,
        strangerKey,
        hostPublicKey,
        setCloudInit: (status) => fs.writeFileSync(statusFile, status),
        log,
        async stop() {
            if (child.exitCode === null) {
                child.kill("SIGTERM");
                const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
                await exited;
                clearTimeout(timer);
            }
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}
