// A real registry for tests: Debian's `docker-registry` (distribution 2.8) on a free loopback
// port, with filesystem storage in a fresh temp dir, optionally behind htpasswd basic auth or
// token auth served by our own token server. stop() kills it by its pid and removes the dir.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { startTokenServer, TokenServer } from "./tokenServer";
import { freePort } from "./ports";

export interface TestRegistry {
    /** 127.0.0.1:PORT */
    host: string;
    /** http://127.0.0.1:PORT */
    url: string;
    stop(): Promise<void>;
    /** The token server, for `auth: "token"`. */
    tokenServer?: TokenServer;
    /** The token auth `service` name (for `auth: "token"`). */
    service?: string;
    /** What the registry has logged so far. */
    log(): string;
    /** The storage root (filesystem driver): lets a test remove a tag the API cannot delete. */
    dataDir: string;
}

export interface RegistryOptions {
    auth?: "none" | "htpasswd" | "token";
    /** Users for htpasswd or the token server; defaults to one user `truss` / `truss-password`. */
    users?: { username: string; password: string }[];
    /** Token auth: whether anonymous clients may pull (like Docker Hub's public repositories). */
    anonymousPull?: boolean;
    /** How long to wait for `GET /v2/` to answer. */
    startTimeoutMs?: number;
}

export const DEFAULT_USER = { username: "truss", password: "truss-password" } as const;
const REGISTRY_BIN = "docker-registry";

function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

async function answers(url: string): Promise<boolean> {
    try {
        const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        return res.status === 200 || res.status === 401;
    } catch {
        return false;
    }
}

function exited(child: ChildProcess): Promise<void> {
    return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
    });
}

async function killChild(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const done = await Promise.race([exited(child).then(() => true), sleep(5000).then(() => false)]);
    if (!done) {
        child.kill("SIGKILL");
        await exited(child);
    }
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
    const auth = opts.auth ?? "none";
    const users = opts.users ?? [DEFAULT_USER];
    const timeoutMs = opts.startTimeoutMs ?? 20000;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "truss-registry-"));
    let tokenServer: TokenServer | undefined;
    const service = "truss-test-registry";
    try {
        const authConfig: Record<string, unknown> = {};
        if (auth === "htpasswd") {
            const file = path.join(dir, "htpasswd");
            const lines = users.map((u) => execFileSync("htpasswd", ["-Bbn", u.username, u.password], { encoding: "utf8" }).trim());
            fs.writeFileSync(file, lines.join("\n") + "\n", { mode: 0o600 });
            authConfig.htpasswd = { realm: "truss-test-registry", path: file };
        } else if (auth === "token") {
            tokenServer = await startTokenServer({
                dir,
                users,
                service,
                issuer: "truss-test-token-issuer",
                anonymousPull: opts.anonymousPull,
            });
            authConfig.token = {
                realm: tokenServer.realm,
                service,
                issuer: "truss-test-token-issuer",
                rootcertbundle: tokenServer.certPath,
            };
        }
        // A port can be taken between choosing and binding it: try a few.
        let lastError: Error | undefined;
        for (let attempt = 0; attempt < 3; attempt++) {
            const port = await freePort();
            const host = `127.0.0.1:${port}`;
            const url = `http://${host}`;
            const configPath = path.join(dir, `config-${attempt}.yml`);
            const config = {
                version: 0.1,
                log: { level: "warn", accesslog: { disabled: true }, formatter: "text" },
                storage: {
                    filesystem: { rootdirectory: path.join(dir, "data") },
                    delete: { enabled: true },
                    maintenance: { uploadpurging: { enabled: false } },
                },
                http: { addr: host, secret: "truss-test-registry-secret", headers: { "X-Content-Type-Options": ["nosniff"] } },
                health: { storagedriver: { enabled: false } },
                ...(auth === "none" ? {} : { auth: authConfig }),
            };
            fs.writeFileSync(configPath, stringify(config));
            const logPath = path.join(dir, `registry-${attempt}.log`);
            const logFd = fs.openSync(logPath, "w");
            const child = spawn(REGISTRY_BIN, ["serve", configPath], { stdio: ["ignore", logFd, logFd] });
            fs.closeSync(logFd);
            const log = (): string => (fs.existsSync(logPath) ? fs.readFileSync(logPath, "utf8") : "");
            let spawnError: Error | undefined;
            child.once("error", (e) => (spawnError = e));
            const deadline = Date.now() + timeoutMs;
            let up = false;
            while (Date.now() < deadline && !spawnError && child.exitCode === null && child.signalCode === null) {
                if (await answers(url)) {
                    up = true;
                    break;
                }
                await sleep(50);
            }
            if (up) {
                let stopped = false;
                return {
                    host,
                    url,
                    tokenServer,
                    service: auth === "token" ? service : undefined,
                    log,
                    dataDir: path.join(dir, "data"),
                    async stop() {
                        if (stopped) return;
                        stopped = true;
                        await killChild(child);
                        await tokenServer?.stop();
                        fs.rmSync(dir, { recursive: true, force: true });
                    },
                };
            }
            await killChild(child);
            const text = log();
            lastError = new Error(
                spawnError
                    ? `could not start ${REGISTRY_BIN} (${spawnError.message}); install it with \`apt-get install -y docker-registry\``
                    : `${REGISTRY_BIN} did not answer GET ${url}/v2/ within ${timeoutMs} ms (exit code ${child.exitCode ?? "none"}); its log:\n${text}`,
            );
            if (spawnError || !/address already in use/i.test(text)) break;
        }
        throw lastError ?? new Error(`${REGISTRY_BIN} did not start`);
    } catch (e) {
        await tokenServer?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
        throw e;
    }
}
