// The runner's user data and idle stop, checked by real tools: Python's email parser (the one
// cloud-init reads user data with), a YAML parser, ssh-keygen, shellcheck, and the idle stop
// script run by sh with stub commands.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { generateHostKey } from "../../../src/runners/hostKey";
import { SMOKE_TIMEOUT_SECONDS } from "../../../src/runners/smokeChecks";
import { IDLE_STOP_SCRIPT, idleStopScript, PRUNE_AFTER_HOURS, renderUserData } from "../../../src/runners/userData";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1RUq2k3nLUbGN6zC4FfEA+GiDpisq6QU2xRiCHLdza operator@example";
const RUNNER_KINDS = [
    { pool: "gpu", nvidiaGpu: true },
    { pool: "cpu", nvidiaGpu: false },
    { pool: "arm64", nvidiaGpu: false },
    { pool: "arm64", nvidiaGpu: true },
] as const;

/** shellcheck's findings for a script (empty when clean). */
function shellcheck(script: string, shell?: "sh" | "bash"): string {
    const r = spawnSync("shellcheck", [...(shell ? ["-s", shell] : []), "-"], { input: script, encoding: "utf8" });
    if (r.error) throw new Error(`shellcheck could not run (${r.error.message}); install it with \`apt-get install -y shellcheck\``);
    return r.status === 0 ? "" : r.stdout + r.stderr;
}

/** The text of a quoted heredoc `cat > <target> <<'<tag>' ... <tag>` in a script. */
function heredoc(script: string, target: string): string {
    const m = new RegExp(`cat > ${target.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} <<'(\\w+)'\\n([\\s\\S]*?)\\n\\1\\n`).exec(script);
    assert.ok(m, `no heredoc writing ${target}`);
    return m[2];
}

/**
 * The user data as cloud-init reads it: Python's email parser splits the MIME parts (each
 * part's content type, file name and payload), and the cloud-config part is parsed as YAML.
 */
function parseUserData(userData: string): { parts: { type: string; filename: string; payload: string }[]; cloudConfig: any } {
    const program = [
        "import email, json, sys",
        "msg = email.message_from_string(sys.stdin.read())",
        "assert msg.is_multipart(), 'not multipart'",
        "parts = [{'type': p.get_content_type(), 'filename': p.get_filename(), 'payload': p.get_payload()} for p in msg.get_payload()]",
        "print(json.dumps(parts))",
    ].join("\n");
    const r = spawnSync("python3", ["-c", program], { input: userData, encoding: "utf8" });
    if (r.error) throw new Error(`python3 could not run (${r.error.message})`);
    assert.strictEqual(r.status, 0, r.stderr);
    const parts: { type: string; filename: string; payload: string }[] = JSON.parse(r.stdout);
    const config = parts.find((p) => p.type === "text/cloud-config")?.payload;
    return { parts, cloudConfig: config === undefined ? undefined : YAML.parse(config) };
}

describe("runner user data (Python's email and YAML parsers, ssh-keygen, shellcheck)", () => {
    const hostKey = generateHostKey("truss-base-images-prod-runner-gpu-0");
    for (const { pool, nvidiaGpu } of RUNNER_KINDS) {
        const userData = renderUserData({ pool, nvidiaGpu, sshUser: "ubuntu", sshPublicKey: KEY, idleStopMinutes: 30, hostKey });
        const { parts, cloudConfig } = parseUserData(userData);
        const script = parts.find((p) => p.type === "text/x-shellscript")?.payload ?? "";
        const kind = `${pool}${nvidiaGpu ? " with an NVIDIA GPU" : ""}`;

        it(`${kind}: cloud-init's parts are the host key (cloud-config) then the setup script; the key is one ssh-keygen reads`, () => {
            assert.deepStrictEqual(
                parts.map((p) => [p.type, p.filename]),
                [
                    ["text/cloud-config", "host-key.yaml"],
                    ["text/x-shellscript", "setup.sh"],
                ],
            );
            assert.strictEqual(cloudConfig.ssh_deletekeys, true);
            assert.deepStrictEqual(Object.keys(cloudConfig.ssh_keys), ["ed25519_private", "ed25519_public"]);
            assert.strictEqual(cloudConfig.ssh_keys.ed25519_public, hostKey.publicKey);
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-key-"));
            try {
                const file = path.join(dir, "ssh_host_ed25519_key");
                fs.writeFileSync(file, cloudConfig.ssh_keys.ed25519_private, { mode: 0o600 });
                const derived = execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim();
                assert.strictEqual(derived.split(" ").slice(0, 2).join(" "), hostKey.publicKey.split(" ").slice(0, 2).join(" "));
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it(`${kind}: passes shellcheck, and so does the idle stop script it installs`, () => {
            assert.strictEqual(shellcheck(script), "");
            const installed = heredoc(script, IDLE_STOP_SCRIPT);
            assert.strictEqual(installed, idleStopScript(30).trimEnd());
            assert.strictEqual(shellcheck(installed + "\n"), "");
            assert.ok(script.startsWith("#!/bin/bash\n"));
            assert.match(script, /^set -euxo pipefail$/m, "a failed step fails cloud-init, which the readiness gate reports");
        });
    }
});

describe("the idle stop script, run for real with stub commands", () => {
    // Stubs for docker, ss, cloud-init, systemctl and logger on PATH; the script's state folder
    // is redirected to a temporary one. Checks the decision, not systemd. The docker stub lists
    // containers started the given numbers of seconds ago (as `docker inspect` prints start
    // times) and logs every other call (the prunes).

    interface IdleRun {
        readonly poweredOff: boolean;
        readonly stampTouched: boolean;
        /** The docker calls other than ps and inspect, in order. */
        readonly dockerCalls: string[];
    }

    function run(opts: { containersStartedSecondsAgo?: number[]; ssh?: boolean; idleMinutes: number }): IdleRun {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "idle-stop-"));
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        const stub = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
        const ages = opts.containersStartedSecondsAgo ?? [];
        const startedAt = ages.map((s) => new Date(Date.now() - s * 1000).toISOString().replace(/\.(\d{3})Z$/, ".$1456789Z"));
        stub(
            "docker",
            [
                `case "$1" in`,
                `ps) ${ages.map((_, i) => `echo c0ffee${i}`).join("; ") || "true"} ;;`,
                `inspect) ${startedAt.map((t) => `echo ${t}`).join("; ") || "true"} ;;`,
                `*) echo "$*" >> ${dir}/docker.log ;;`,
                "esac",
            ].join("\n"),
        );
        stub("ss", opts.ssh ? "echo 'ESTAB 0 0 10.0.0.5:22 203.0.113.7:51234'" : "true");
        stub("cloud-init", "echo 'status: done'");
        stub("systemctl", `echo "$*" >> ${dir}/systemctl.log`);
        stub("logger", "true");
        const state = path.join(dir, "state");
        const script = idleStopScript(30).replace(/^STATE_DIR=.*$/m, `STATE_DIR=${state}`);
        fs.mkdirSync(state);
        const stamp = path.join(state, "last-activity");
        fs.writeFileSync(stamp, "");
        const past = new Date(Date.now() - opts.idleMinutes * 60_000);
        fs.utimesSync(stamp, past, past);
        const r = spawnSync("sh", ["-c", script], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: "utf8" });
        assert.strictEqual(r.status, 0, r.stderr);
        const poweredOff = fs.existsSync(`${dir}/systemctl.log`) && fs.readFileSync(`${dir}/systemctl.log`, "utf8").includes("poweroff");
        const stampTouched = fs.statSync(stamp).mtimeMs > past.getTime() + 1000;
        const dockerCalls = fs.existsSync(`${dir}/docker.log`) ? fs.readFileSync(`${dir}/docker.log`, "utf8").trim().split("\n") : [];
        fs.rmSync(dir, { recursive: true, force: true });
        return { poweredOff, stampTouched, dockerCalls };
    }

    const PRUNES = [
        `image prune --all --force --filter until=${PRUNE_AFTER_HOURS}h`,
        `builder prune --all --force --filter until=${PRUNE_AFTER_HOURS}h`,
    ];

    it("powers off after 30 idle minutes, not before, pruning images and build cache older than the documented age first", () => {
        assert.deepStrictEqual(run({ idleMinutes: 31 }), { poweredOff: true, stampTouched: false, dockerCalls: PRUNES });
        assert.deepStrictEqual(run({ idleMinutes: 29 }), { poweredOff: false, stampTouched: false, dockerCalls: [] });
    });

    it("a container started within the smoke timeout, or an ssh connection, is work: it resets the idle time", () => {
        const young = run({ idleMinutes: 120, containersStartedSecondsAgo: [SMOKE_TIMEOUT_SECONDS + 3600, 60] });
        assert.deepStrictEqual(young, { poweredOff: false, stampTouched: true, dockerCalls: [] });
        assert.deepStrictEqual(run({ idleMinutes: 120, ssh: true }), { poweredOff: false, stampTouched: true, dockerCalls: [] });
    });

    it(`a container running longer than the smoke timeout (${SMOKE_TIMEOUT_SECONDS} s) is hung, not work: the runner still stops`, () => {
        const hung = run({ idleMinutes: 31, containersStartedSecondsAgo: [SMOKE_TIMEOUT_SECONDS + 60] });
        assert.deepStrictEqual(hung, { poweredOff: true, stampTouched: false, dockerCalls: PRUNES });
    });
});
