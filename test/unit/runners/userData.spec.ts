import * as assert from "assert";
import * as YAML from "yaml";
import { generateHostKey } from "../../../src/runners/hostKey";
import { SMOKE_TIMEOUT_SECONDS } from "../../../src/runners/smokeChecks";
import {
    IDLE_STOP_SCRIPT,
    idleStopScript,
    idleStopUnits,
    PRUNE_AFTER_HOURS,
    renderCloudConfig,
    renderSetupScript,
    renderUserData,
    SSHD_DROP_IN,
    USER_DATA_BOUNDARY,
} from "../../../src/runners/userData";

/** Every kind of runner: the x86 GPU pool, the x86 CPU pool, and arm64 without and with an NVIDIA GPU (g5g). */
const RUNNER_KINDS = [
    { pool: "gpu", nvidiaGpu: true },
    { pool: "cpu", nvidiaGpu: false },
    { pool: "arm64", nvidiaGpu: false },
    { pool: "arm64", nvidiaGpu: true },
] as const;

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1RUq2k3nLUbGN6zC4FfEA+GiDpisq6QU2xRiCHLdza operator@example";
const HOST_KEY = generateHostKey("truss-base-images-prod-runner-gpu-0");
/** EC2 refuses user data over 16 KB. */
const EC2_USER_DATA_LIMIT = 16 * 1024;

/** The parts of a multipart user data message, by content type: headers and body, split as MIME says. */
function mimeParts(message: string): Map<string, { headers: string; body: string }> {
    const [head, ...rest] = message.split(`\n--${USER_DATA_BOUNDARY}`);
    assert.match(head, new RegExp(`^Content-Type: multipart/mixed; boundary="${USER_DATA_BOUNDARY}"\nMIME-Version: 1\.0\n`));
    assert.strictEqual(rest[rest.length - 1], "--\n", "the closing boundary ends the message");
    const parts = new Map<string, { headers: string; body: string }>();
    for (const part of rest.slice(0, -1)) {
        const [headers, body] = [part.slice(0, part.indexOf("\n\n")), part.slice(part.indexOf("\n\n") + 2)];
        const type = /^Content-Type: ([^;]+);/m.exec(headers)?.[1];
        assert.ok(type, headers);
        parts.set(type, { headers, body });
    }
    return parts;
}

/** The text of a quoted heredoc `cat > <target> <<'<tag>' ... <tag>` in a script. */
function heredoc(script: string, target: string): string {
    const m = new RegExp(`cat > ${target.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} <<'(\\w+)'\\n([\\s\\S]*?)\\n\\1\\n`).exec(script);
    assert.ok(m, `no heredoc writing ${target}`);
    return m[2];
}

describe("runner user data", () => {
    for (const { pool, nvidiaGpu } of RUNNER_KINDS) {
        const params = { pool, nvidiaGpu, sshUser: "ubuntu", sshPublicKey: KEY, idleStopMinutes: 30, hostKey: HOST_KEY };
        const script = renderSetupScript(params);
        const kind = `${pool}${nvidiaGpu ? " with an NVIDIA GPU" : ""}`;

        it(`${kind}: the user data is a MIME message of the host key (cloud-config) and the setup script, under EC2's 16 KB`, () => {
            const userData = renderUserData(params);
            const parts = mimeParts(userData);
            assert.deepStrictEqual(
                [...parts.keys()],
                ["text/cloud-config", "text/x-shellscript"],
                "cloud-config first: the key is in place before sshd starts",
            );
            assert.strictEqual(
                parts.get("text/cloud-config")?.body,
                renderCloudConfig(HOST_KEY).trimEnd(),
                "the line break before a boundary belongs to the boundary",
            );
            assert.strictEqual(parts.get("text/x-shellscript")?.body, script.trimEnd());
            assert.ok(Buffer.byteLength(userData) < EC2_USER_DATA_LIMIT, `${Buffer.byteLength(userData)} bytes`);
            assert.ok(
                !userData
                    .split("\n")
                    .some((l) => l.startsWith(`--${USER_DATA_BOUNDARY}`) && !/^--==truss-base-images-user-data==(--)?$/.test(l)),
            );
        });

        it(`${kind}: raises sshd's connection limits, offers only the stack's host key, installs the operator's public key, and holds no secret in the script`, () => {
            assert.strictEqual(
                heredoc(script, SSHD_DROP_IN),
                "MaxStartups 200:30:400\nMaxSessions 200\nPasswordAuthentication no\nHostKey /etc/ssh/ssh_host_ed25519_key",
            );
            assert.match(script, /^sshd -t$/m, "the drop-in is validated before sshd reloads");
            assert.strictEqual(heredoc(script, '"$home_dir/.ssh/authorized_keys"'), KEY);
            assert.ok(!/PRIVATE KEY|password=|token/i.test(script));
            const [type, data] = HOST_KEY.publicKey.split(" ");
            assert.ok(
                script.includes(`[ "$(cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)" = "${type} ${data}" ] || {`),
                "the setup fails unless cloud-init installed the stack's key",
            );
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

    it("the cloud-config part installs the stack's host key, byte for byte, and deletes the image's own keys", () => {
        const config = renderCloudConfig(HOST_KEY);
        assert.ok(config.startsWith("#cloud-config\n"));
        assert.deepStrictEqual(YAML.parse(config), {
            ssh_deletekeys: true,
            ssh_keys: { ed25519_private: HOST_KEY.privateKey, ed25519_public: HOST_KEY.publicKey },
        });
    });

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
