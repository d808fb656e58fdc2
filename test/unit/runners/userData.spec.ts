import * as assert from "assert";
import { SMOKE_TIMEOUT_SECONDS } from "../../../src/runners/smokeChecks";
import {
    IDLE_STOP_SCRIPT,
    idleStopScript,
    idleStopUnits,
    PRUNE_AFTER_HOURS,
    renderUserData,
    SSHD_DROP_IN,
} from "../../../src/runners/userData";

/** Every kind of runner: the x86 GPU pool, the x86 CPU pool, and arm64 without and with an NVIDIA GPU (g5g). */
const RUNNER_KINDS = [
    { pool: "gpu", nvidiaGpu: true },
    { pool: "cpu", nvidiaGpu: false },
    { pool: "arm64", nvidiaGpu: false },
    { pool: "arm64", nvidiaGpu: true },
] as const;

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1RUq2k3nLUbGN6zC4FfEA+GiDpisq6QU2xRiCHLdza operator@example";

/** The text of a quoted heredoc `cat > <target> <<'<tag>' ... <tag>` in a script. */
function heredoc(script: string, target: string): string {
    const m = new RegExp(`cat > ${target.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} <<'(\\w+)'\\n([\\s\\S]*?)\\n\\1\\n`).exec(script);
    assert.ok(m, `no heredoc writing ${target}`);
    return m[2];
}

describe("runner user data", () => {
    for (const { pool, nvidiaGpu } of RUNNER_KINDS) {
        const script = renderUserData({ pool, nvidiaGpu, sshUser: "ubuntu", sshPublicKey: KEY, idleStopMinutes: 30 });
        const kind = `${pool}${nvidiaGpu ? " with an NVIDIA GPU" : ""}`;

        it(`${kind}: raises sshd's connection limits, installs the operator's public key, and nothing secret`, () => {
            assert.strictEqual(heredoc(script, SSHD_DROP_IN), "MaxStartups 200:30:400\nMaxSessions 200\nPasswordAuthentication no");
            assert.match(script, /^sshd -t$/m, "the drop-in is validated before sshd reloads");
            assert.strictEqual(heredoc(script, '"$home_dir/.ssh/authorized_keys"'), KEY);
            assert.ok(!/PRIVATE KEY|password=|token/i.test(script));
        });

        it(`${kind}: makes sure Docker runs at boot and the ssh user may use it`, () => {
            assert.match(script, /usermod -aG docker "\$SSH_USER"/);
            assert.match(script, /^docker info >\/dev\/null/m);
            if (nvidiaGpu) {
                assert.match(script, /nvidia-ctk runtime configure --runtime=docker/);
                assert.match(script, /grep -q '"nvidia"'/);
            } else {
                assert.match(script, /apt-get .*install -y --no-install-recommends docker\.io/);
                assert.ok(!script.includes("nvidia"));
            }
        });

        it(`${kind}: installs and enables the idle stop timer`, () => {
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
        assert.match(
            script,
            new RegExp(`^CONTAINER_WORK_SECONDS=${SMOKE_TIMEOUT_SECONDS}$`, "m"),
            "but not one older than the smoke timeout",
        );
        assert.match(script, /docker inspect --format '\{\{\.State\.StartedAt\}\}'/);
        assert.match(script, new RegExp(`^PRUNE_AFTER_HOURS=${PRUNE_AFTER_HOURS}$`, "m"));
        assert.match(script, /docker image prune --all --force --filter "until=\$\{PRUNE_AFTER_HOURS\}h"/);
        assert.match(script, /docker builder prune --all --force --filter "until=\$\{PRUNE_AFTER_HOURS\}h"/);
        assert.ok(script.indexOf("image prune") < script.indexOf("systemctl poweroff"), "pruned before the power-off");
        assert.match(script, /ss -Htn state established '\( sport = :22 \)'/, "an ssh connection is work");
        assert.match(script, /systemctl poweroff/);
    });
});
