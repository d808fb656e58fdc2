// The readiness gate against the real local Docker daemon: the same code the gate runs for a
// runner over ssh, given a local socket instead (ssh itself is not needed for this part).
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { waitUntilReady } from "../../../src/pulumi/readinessGateProvider";
import { ensureDockerDaemon } from "../../support/docker";
import { callSerialized } from "../../support/dynamicProviders";

const LOCAL = process.env.DOCKER_HOST || "unix:///var/run/docker.sock";

function unusedSocket(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "no-daemon-"));
    return `unix://${dir}/docker.sock`;
}

describe("readiness gate (real Docker daemon)", function () {
    this.timeout(120_000);

    before(async () => {
        await ensureDockerDaemon();
    });

    it("passes as soon as the daemon answers docker info, and reports its version", async () => {
        const t0 = Date.now();
        const ready = await waitUntilReady({ runner: "local", endpoint: { host: LOCAL }, waitForCloudInit: true, timeoutSeconds: 30 });
        assert.match(ready.serverVersion, /^\d+\.\d+/);
        assert.ok(ready.runtimes.includes("runc"), ready.runtimes.join(","));
        assert.ok(Date.now() - t0 < 10_000, "no waiting when the daemon answers");
    });

    it("gives up at its deadline when no daemon answers, naming the runner, the address and what failed", async () => {
        const host = unusedSocket();
        const t0 = Date.now();
        await assert.rejects(
            waitUntilReady({
                runner: "gpu-7",
                endpoint: { host },
                waitForCloudInit: true,
                timeoutSeconds: 3,
                retryIntervalSeconds: 0.5,
                note: "a note from the config",
            }),
            (e: Error) => {
                assert.strictEqual(e.name, "RunnerNotReadyError");
                assert.ok(
                    e.message.startsWith(
                        `Build runner gpu-7 (${host}) was not ready within 3 s: the check "the Docker daemon answers \`docker info\`" failed`,
                    ),
                    e.message,
                );
                assert.match(e.message, /Cannot connect to the Docker daemon/);
                assert.match(e.message, /likely cause: the Docker daemon is not running/);
                assert.match(e.message, /note: a note from the config/);
                return true;
            },
        );
        const elapsed = Date.now() - t0;
        assert.ok(elapsed >= 2_500 && elapsed < 15_000, `waited ${elapsed} ms for a 3 s deadline`);
    });

    it("stops at once when the daemon lacks a required runtime (no GPU runtime here)", async () => {
        const t0 = Date.now();
        await assert.rejects(
            waitUntilReady({
                runner: "gpu-0",
                endpoint: { host: LOCAL },
                waitForCloudInit: false,
                requireRuntime: "nvidia",
                timeoutSeconds: 60,
            }),
            /is not usable: .*\n[\s\S]*has no nvidia runtime/,
        );
        assert.ok(Date.now() - t0 < 15_000, "a missing runtime is not waited out");
    });

    it("works as Pulumi runs it: the serialized gate provider, in a plain node process, checks only when there are builds", async () => {
        const inputs = {
            runner: "local",
            host: LOCAL,
            waitForCloudInit: false,
            timeoutSeconds: 30,
            builds: ["docker.io/baseten/truss-server-base:3.9-v1"],
        };
        const passed = await callSerialized("ReadinessGate", "create", [inputs]);
        assert.ok(passed.ok, passed.error);
        assert.strictEqual(passed.result.id, "local-ready");
        assert.match(passed.result.outs.dockerVersion, /^\d+\.\d+/);

        const bad = { ...inputs, host: unusedSocket(), timeoutSeconds: 2 };
        const failed = await callSerialized("ReadinessGate", "create", [bad]);
        assert.strictEqual(failed.ok, false);
        assert.match(failed.error ?? "", /^Build runner local \(unix:\/\/.*\) was not ready within 2 s/);

        const idle = await callSerialized("ReadinessGate", "create", [{ ...bad, builds: [] }]);
        assert.ok(idle.ok, "with nothing to build the gate does not dial the runner at all");
    });
});
