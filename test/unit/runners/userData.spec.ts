import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { RUNNER_POOLS } from "../../../src/config/runners";
import { IDLE_STOP_SCRIPT, idleStopScript, idleStopUnits, renderUserData, SSHD_DROP_IN } from "../../../src/runners/userData";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1RUq2k3nLUbGN6zC4FfEA+GiDpisq6QU2xRiCHLdza operator@example";

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

describe("runner user data", () => {
    for (const pool of RUNNER_POOLS) {
        const script = renderUserData({ pool, sshUser: "ubuntu", sshPublicKey: KEY, idleStopMinutes: 30 });

        it(`${pool}: passes shellcheck, and so does the idle stop script it installs`, () => {
            assert.strictEqual(shellcheck(script), "");
            const installed = heredoc(script, IDLE_STOP_SCRIPT);
            assert.strictEqual(installed, idleStopScript(30).trimEnd());
            assert.strictEqual(shellcheck(installed + "\n"), "");
            assert.ok(script.startsWith("#!/bin/bash\n"));
            assert.match(script, /^set -euxo pipefail$/m, "a failed step fails cloud-init, which the readiness gate reports");
        });

        it(`${pool}: raises sshd's connection limits, installs the operator's public key, and nothing secret`, () => {
            assert.strictEqual(heredoc(script, SSHD_DROP_IN), "MaxStartups 200:30:400\nMaxSessions 200\nPasswordAuthentication no");
            assert.match(script, /^sshd -t$/m, "the drop-in is validated before sshd reloads");
            assert.strictEqual(heredoc(script, '"$home_dir/.ssh/authorized_keys"'), KEY);
            assert.ok(!/PRIVATE KEY|password=|token/i.test(script));
        });

        it(`${pool}: makes sure Docker runs at boot and the ssh user may use it`, () => {
            assert.match(script, /usermod -aG docker "\$SSH_USER"/);
            assert.match(script, /^docker info >\/dev\/null/m);
            if (pool === "gpu") {
                assert.match(script, /nvidia-ctk runtime configure --runtime=docker/);
                assert.match(script, /grep -q '"nvidia"'/);
            } else {
                assert.match(script, /apt-get .*install -y --no-install-recommends docker\.io/);
                assert.ok(!script.includes("nvidia"));
            }
        });

        it(`${pool}: installs and enables the idle stop timer`, () => {
            assert.match(script, /^systemctl enable --now truss-idle-stop\.timer$/m);
            assert.strictEqual(heredoc(script, "/etc/systemd/system/truss-idle-stop.timer"), idleStopUnits(30).timer.trimEnd());
            assert.strictEqual(heredoc(script, "/etc/systemd/system/truss-idle-stop.service"), idleStopUnits(30).service.trimEnd());
        });
    }

    it("runs the idle check every minute and powers off after the configured idle minutes", () => {
        const { service, timer } = idleStopUnits(45);
        assert.match(timer, /^OnUnitActiveSec=1min$/m);
        assert.match(timer, /^WantedBy=timers\.target$/m);
        assert.match(service, new RegExp(`^ExecStart=${IDLE_STOP_SCRIPT}$`, "m"));
        const script = idleStopScript(45);
        assert.match(script, /^IDLE_STOP_MINUTES=45$/m);
        assert.match(script, /docker ps -q/, "a running container is work");
        assert.match(script, /ss -Htn state established '\( sport = :22 \)'/, "an ssh connection is work");
        assert.match(script, /systemctl poweroff/);
    });
});

describe("the idle stop script, run for real with stub commands", () => {
    // Stubs for docker, ss, cloud-init, systemctl and logger on PATH; the script's state folder
    // is redirected to a temporary one. Checks the decision, not systemd.

    function run(opts: { containers?: boolean; ssh?: boolean; idleMinutes: number }): { poweredOff: boolean; stampTouched: boolean } {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "idle-stop-"));
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        const stub = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
        stub("docker", opts.containers ? "echo 3f2a1b" : "true");
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
        fs.rmSync(dir, { recursive: true, force: true });
        return { poweredOff, stampTouched };
    }

    it("powers off after 30 idle minutes, not before", () => {
        assert.deepStrictEqual(run({ idleMinutes: 31 }), { poweredOff: true, stampTouched: false });
        assert.deepStrictEqual(run({ idleMinutes: 29 }), { poweredOff: false, stampTouched: false });
    });

    it("a running container or an ssh connection is work: it resets the idle time", () => {
        assert.deepStrictEqual(run({ idleMinutes: 120, containers: true }), { poweredOff: false, stampTouched: true });
        assert.deepStrictEqual(run({ idleMinutes: 120, ssh: true }), { poweredOff: false, stampTouched: true });
    });
});
