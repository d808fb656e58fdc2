// The runners' ssh transport for real, for both access modes: a real OpenSSH server on
// loopback, started by the test with its own config and keys, stands in for a runner in front
// of this machine's Docker daemon, presenting the host key the stack generated for the runner.
// Access ssh dials its address; access ssm dials the runner's fixed name through the exact
// ProxyCommand the stack declares, with a stand-in AWS CLI on PATH that pipes the "session" to
// the loopback sshd when the instance id it is given is running. Only cloud-init is a stub (on
// the sessions' PATH); ssh, sshd, the gate, its pinning and Docker are real.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { pinRunner, RunnerPin, waitUntilReady } from "../../../src/pulumi/readinessGateProvider";
import { runProcess } from "../../../src/pulumi/process";
import { shellQuote } from "../../../src/runners/commandLine";
import { generateHostKey } from "../../../src/runners/hostKey";
import {
    DockerEndpoint,
    pinnedInstanceFile,
    pinnedKnownHostsFile,
    runnerHostAlias,
    sshCommand,
    sshDockerHost,
    sshOptions,
} from "../../../src/runners/ssh";
import { ssmHostAlias, ssmProxyCommand } from "../../../src/runners/ssm";
import { docker, ensureDockerDaemon } from "../../support/docker";
import { callSerialized } from "../../support/dynamicProviders";
import { FakeAws, FakeInstance, installFakeAws } from "../../support/fakeAws";
import { freePort } from "../../support/ports";
import { LoopbackSshd, startLoopbackSshd } from "../../support/sshd";

const TARGET = { project: "truss-base-images", stack: "loopback-test", runner: "gpu-0", region: "us-east-1" };
const RUNNER_TAGS = { project: TARGET.project, stack: TARGET.stack, runner: TARGET.runner };
const INSTANCE: FakeInstance = { id: "i-0aaaaaaaaaaaaaaa1", tags: RUNNER_TAGS, state: "running", launchTime: "2026-01-01T00:00:00Z" };
const ALIAS = runnerHostAlias(TARGET);
/** The runner's host key, as the stack generates it and its user data installs it. */
const HOST_KEY = generateHostKey(ALIAS);

const home = (p: string) => (p.startsWith("~/") ? path.join(os.homedir(), p.slice(2)) : p);

describe("runner transport on loopback: a real sshd in front of the local Docker daemon", function () {
    this.timeout(180_000);
    let sshd: LoopbackSshd;
    let aws: FakeAws;
    let serverVersion: string;
    const savedEnv = { ...process.env };
    const endpoints: Record<"ssh" | "ssm", DockerEndpoint> = {} as Record<"ssh" | "ssm", DockerEndpoint>;
    const made: string[] = [];

    before(async () => {
        await ensureDockerDaemon();
        serverVersion = (await docker(["version", "--format", "{{.Server.Version}}"])).stdout.trim();
        sshd = await startLoopbackSshd({ hostKey: HOST_KEY.privateKey });
        aws = installFakeAws();
        aws.setInstances([INSTANCE]);
        Object.assign(process.env, aws.env(sshd.port), { PATH: `${aws.binDir}:${process.env.PATH}` });
        endpoints.ssh = {
            host: `${sshDockerHost(sshd.user, "127.0.0.1")}:${sshd.port}`,
            sshOpts: sshOptions({ hostKeyAlias: ALIAS, privateKeyPath: sshd.clientKey }),
        };
        endpoints.ssm = {
            host: sshDockerHost(sshd.user, ssmHostAlias(TARGET)),
            sshOpts: sshOptions({ hostKeyAlias: ALIAS, privateKeyPath: sshd.clientKey, proxyCommand: ssmProxyCommand(TARGET) }),
        };
    });

    after(async () => {
        await closeSharedConnections();
        // What the gate wrote from the "state": the pinned key and the instance id.
        for (const file of [pinnedKnownHostsFile(ALIAS), pinnedInstanceFile(ALIAS)]) fs.rmSync(home(file), { force: true });
        for (const image of made) await docker(["rmi", "-f", image], { allowFailure: true });
        for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
        Object.assign(process.env, savedEnv);
        await sshd?.stop();
        aws?.remove();
    });

    /** Closes the shared connections the checks left (ControlPersist would keep them 10 minutes): the next check dials anew. */
    async function closeSharedConnections(): Promise<void> {
        for (const endpoint of Object.values(endpoints))
            await runProcess(sshCommand(endpoint, "true", ["-O", "exit"]), { timeoutMs: 10_000 });
    }

    /** The runner as the stack's state knows it. */
    const PIN: RunnerPin = { alias: ALIAS, hostKey: HOST_KEY.publicKey, instanceId: INSTANCE.id };

    it("access ssh: the readiness gate pins the runner's key from the state, then passes over ssh to the address, with the provider's options", async () => {
        fs.rmSync(home(pinnedKnownHostsFile(ALIAS)), { force: true });
        const ready = await waitUntilReady({
            runner: "gpu-0",
            endpoint: endpoints.ssh,
            access: "ssh",
            waitForCloudInit: true,
            timeoutSeconds: 60,
            pin: PIN,
        });
        assert.strictEqual(ready.serverVersion, serverVersion);
        assert.match(sshd.log(), /Accepted publickey for \S+ from 127\.0\.0\.1/);
        const pinned = home(pinnedKnownHostsFile(ALIAS));
        assert.strictEqual(fs.readFileSync(pinned, "utf8"), `${ALIAS} ${HOST_KEY.publicKey.split(" ").slice(0, 2).join(" ")}\n`);
        assert.strictEqual(fs.statSync(pinned).mode & 0o777, 0o600);
        assert.throws(() => pinRunner({ ...PIN, instanceId: "i-0abc; rm -rf ~" }), /"i-0abc; rm -rf ~" is not an EC2 instance id/);
    });

    for (const access of ["ssh", "ssm"] as const) {
        it(`access ${access}: a host that does not hold the runner's pinned key is refused at once with a clear message, before any login`, async () => {
            await closeSharedConnections();
            const accepted = () => (sshd.log().match(/Accepted publickey/g) ?? []).length;
            const before = accepted();
            const t0 = Date.now();
            const other = generateHostKey(ALIAS);
            try {
                await assert.rejects(
                    waitUntilReady({
                        runner: "gpu-0",
                        endpoint: endpoints[access],
                        access,
                        waitForCloudInit: true,
                        timeoutSeconds: 60,
                        // The state says the runner holds another key than the host that answers.
                        pin: { ...PIN, hostKey: other.publicKey },
                    }),
                    (e: Error) => {
                        assert.match(e.message, /is not usable: the check "ssh answers and cloud-init finished" failed \(exit code 255\)/);
                        assert.match(e.message, /Host key verification failed/);
                        assert.ok(
                            e.message.includes(
                                `likely cause: the host did not prove the host key the stack generated for this runner (pinned in ${pinnedKnownHostsFile(ALIAS)}), so nothing was sent to it`,
                            ),
                            e.message,
                        );
                        return true;
                    },
                );
                assert.ok(Date.now() - t0 < 30_000, "refused at once, not waited out");
                assert.strictEqual(accepted(), before, "the client never logged in to it");
                // The Docker provider's transport, with the same options and pin, refuses it too.
                const info = await runProcess(sshCommand(endpoints[access], "docker info"), { timeoutMs: 30_000 });
                assert.strictEqual(info.exitCode, 255, info.output);
                assert.match(info.output, /Host key verification failed/);
            } finally {
                await closeSharedConnections();
            }
        });
    }

    it("access ssm: the gate, as Pulumi runs it, pins the key and instance from its inputs and passes through the ProxyCommand to that instance", async () => {
        await closeSharedConnections();
        for (const file of [pinnedKnownHostsFile(ALIAS), pinnedInstanceFile(ALIAS)]) fs.rmSync(home(file), { force: true });
        // A newer instance carrying the runner's tags, as anyone allowed to start instances could launch.
        const impostor: FakeInstance = { ...INSTANCE, id: "i-0eeeeeeeeeeeeeee9", launchTime: "2026-03-01T00:00:00Z" };
        aws.setInstances([INSTANCE, impostor]);
        const before = aws.calls().length;
        const created = await callSerialized("ReadinessGate", "create", [
            {
                runner: "gpu-0",
                host: endpoints.ssm.host,
                // What the stack stores: the alias, key and tunnel; the provider makes the ssh options from them.
                ssh: { hostKeyAlias: ALIAS, privateKeyPath: sshd.clientKey, proxyCommand: ssmProxyCommand(TARGET) },
                access: "ssm",
                waitForCloudInit: true,
                timeoutSeconds: 60,
                instanceId: INSTANCE.id,
                hostKey: HOST_KEY.publicKey,
                builds: ["docker.io/baseten/truss-server-base:3.11-gpu-v0.0.0"],
            },
        ]);
        aws.setInstances([INSTANCE]);
        assert.ok(created.ok, created.error);
        assert.strictEqual(created.result.outs.dockerVersion, serverVersion);
        assert.strictEqual(fs.readFileSync(home(pinnedInstanceFile(ALIAS)), "utf8"), `${INSTANCE.id}\n`);
        const calls = aws.calls().slice(before);
        assert.ok(!calls.some((c) => c[1] === "describe-instances"), "no look-up by tags");
        const targets = calls.filter((c) => c[1] === "start-session").map((c) => c[c.indexOf("--target") + 1]);
        assert.ok(
            targets.length > 0 && targets.every((t) => t === INSTANCE.id),
            `the instance of the state, never the newest tagged one: ${targets.join(", ")}`,
        );
        const session = calls.find((c) => c[1] === "start-session");
        assert.ok(session, JSON.stringify(calls));
        assert.deepStrictEqual(session.slice(2), [
            "--region",
            "us-east-1",
            "--target",
            INSTANCE.id,
            "--document-name",
            "AWS-StartSSHSession",
            "--parameters",
            "portNumber=22",
        ]);
    });

    it("a replaced instance (a new host key and, under ssm, a new instance id in the state) is accepted only with its new pinned key", async () => {
        // The replacement answers where the old instance did, with the key its own user data installed.
        const replacement: FakeInstance = { ...INSTANCE, id: "i-0bbbbbbbbbbbbbbb2", launchTime: "2026-02-01T00:00:00Z" };
        const newKey = generateHostKey(ALIAS);
        const port = sshd.port;
        await closeSharedConnections();
        await sshd.stop();
        sshd = await startLoopbackSshd({ hostKey: newKey.privateKey, port });
        aws.setInstances([{ ...INSTANCE, state: "stopped" }, replacement]);
        endpoints.ssh = { host: endpoints.ssh.host, sshOpts: sshOptions({ hostKeyAlias: ALIAS, privateKeyPath: sshd.clientKey }) };
        endpoints.ssm = {
            host: endpoints.ssm.host,
            sshOpts: sshOptions({ hostKeyAlias: ALIAS, privateKeyPath: sshd.clientKey, proxyCommand: ssmProxyCommand(TARGET) }),
        };
        const oldPin: RunnerPin = { ...PIN, instanceId: replacement.id };
        const newPin: RunnerPin = { alias: ALIAS, hostKey: newKey.publicKey, instanceId: replacement.id };
        try {
            for (const access of ["ssh", "ssm"] as const) {
                const check = { runner: "gpu-0", endpoint: endpoints[access], access, waitForCloudInit: true, timeoutSeconds: 60 };
                await assert.rejects(
                    waitUntilReady({ ...check, pin: oldPin }),
                    /Host key verification failed[\s\S]*did not prove the host key/,
                    access,
                );
                await closeSharedConnections();
                const before = aws.calls().length;
                const ready = await waitUntilReady({ ...check, pin: newPin });
                assert.strictEqual(ready.serverVersion, serverVersion, access);
                if (access === "ssm") {
                    const targets = aws
                        .calls()
                        .slice(before)
                        .filter((c) => c[1] === "start-session")
                        .map((c) => c[c.indexOf("--target") + 1]);
                    assert.ok(targets.length > 0 && targets.every((t) => t === replacement.id), targets.join(", "));
                }
                await closeSharedConnections();
            }
        } finally {
            aws.setInstances([INSTANCE]);
            await closeSharedConnections();
            await sshd.stop();
            sshd = await startLoopbackSshd({ hostKey: HOST_KEY.privateKey, port });
            endpoints.ssh = { host: endpoints.ssh.host, sshOpts: sshOptions({ hostKeyAlias: ALIAS, privateKeyPath: sshd.clientKey }) };
            endpoints.ssm = {
                host: endpoints.ssm.host,
                sshOpts: sshOptions({ hostKeyAlias: ALIAS, privateKeyPath: sshd.clientKey, proxyCommand: ssmProxyCommand(TARGET) }),
            };
        }
    });

    for (const access of ["ssh", "ssm"] as const) {
        it(`access ${access}: a failed first-boot setup (cloud-init stub says error) stops the gate at once, with its output and the fix`, async () => {
            sshd.setCloudInit("error");
            const t0 = Date.now();
            try {
                await assert.rejects(
                    waitUntilReady({
                        runner: "gpu-0",
                        endpoint: endpoints[access],
                        access,
                        waitForCloudInit: true,
                        timeoutSeconds: 60,
                        pin: PIN,
                    }),
                    (e: Error) => {
                        assert.match(e.message, /is not usable: the check "ssh answers and cloud-init finished" failed \(exit code 1\)/);
                        assert.match(e.message, /status: error/);
                        assert.match(e.message, /likely cause: the runner's setup \(cloud-init user data\) failed/);
                        return true;
                    },
                );
            } finally {
                sshd.setCloudInit("done");
            }
            assert.ok(Date.now() - t0 < 30_000, "a failed setup is not waited out");
        });
    }

    it("access ssm: the instance in the state is stopped: the gate waits for its agent, then names the cause", async () => {
        aws.setInstances([{ ...INSTANCE, state: "stopped" }]);
        try {
            await closeSharedConnections();
            await assert.rejects(
                waitUntilReady({
                    runner: "gpu-0",
                    endpoint: endpoints.ssm,
                    access: "ssm",
                    waitForCloudInit: true,
                    timeoutSeconds: 4,
                    retryIntervalSeconds: 0.5,
                    pin: PIN,
                }),
                (e: Error) => {
                    assert.match(
                        e.message,
                        /^Build runner gpu-0 \(ssh:\/\/\S+@truss-base-images-loopback-test-runner-gpu-0\) was not ready within 4 s/,
                    );
                    assert.match(e.message, /TargetNotConnected/);
                    assert.match(e.message, /likely cause: the runner's SSM agent is not connected \(yet\)/);
                    return true;
                },
            );
        } finally {
            aws.setInstances([INSTANCE]);
        }
    });

    it("access ssm: without the instance id from the state on this machine, the ProxyCommand dials nothing, and the gate says so at once", async () => {
        await closeSharedConnections();
        fs.rmSync(home(pinnedInstanceFile(ALIAS)), { force: true });
        const before = aws.calls().length;
        await assert.rejects(
            waitUntilReady({
                runner: "gpu-0",
                endpoint: endpoints.ssm,
                access: "ssm",
                waitForCloudInit: true,
                timeoutSeconds: 30,
                pin: { alias: ALIAS, hostKey: HOST_KEY.publicKey },
            }),
            (e: Error) => {
                assert.match(e.message, /is not usable: the check "ssh answers and cloud-init finished" failed \(exit code 255\)/);
                assert.match(e.message, /this machine has no instance id from the Pulumi state for build runner gpu-0/);
                assert.match(e.message, /likely cause: the readiness gate did not record the instance id/);
                return true;
            },
        );
        assert.strictEqual(aws.calls().length, before, "no AWS call at all");
    });

    it("access ssh: nothing listening at the address: retried until the deadline, then named", async () => {
        const port = await freePort();
        const endpoint = { host: `${sshDockerHost(sshd.user, "127.0.0.1")}:${port}`, sshOpts: endpoints.ssh.sshOpts };
        await assert.rejects(
            waitUntilReady({
                runner: "cpu-0",
                endpoint,
                access: "ssh",
                waitForCloudInit: true,
                timeoutSeconds: 3,
                retryIntervalSeconds: 0.5,
                pin: PIN,
            }),
            /was not ready within 3 s[\s\S]*Connection refused[\s\S]*likely cause: sshd refused or closed the connection/,
        );
    });

    it("access ssh: a key sshd does not accept: retried until the deadline, then the fix is named", async () => {
        const endpoint = { host: endpoints.ssh.host, sshOpts: sshOptions({ hostKeyAlias: ALIAS, privateKeyPath: sshd.strangerKey }) };
        await closeSharedConnections();
        await assert.rejects(
            waitUntilReady({
                runner: "gpu-0",
                endpoint,
                access: "ssh",
                waitForCloudInit: true,
                timeoutSeconds: 3,
                retryIntervalSeconds: 0.5,
                pin: PIN,
            }),
            /was not ready within 3 s[\s\S]*Permission denied \(publickey\)[\s\S]*likely cause: ssh rejected the key/,
        );
    });

    for (const access of ["ssh", "ssm"] as const) {
        it(`access ${access}: docker -H ssh://... builds an image on the daemon behind sshd, with the provider's exact ssh options`, async () => {
            const endpoint = endpoints[access];
            // The provider dials after the gate, which pinned the runner on this machine.
            pinRunner(PIN);
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), `transport-${access}-`));
            try {
                // The Docker CLI runs `ssh [-l user] [-p port] -- host docker system dial-stdio`, and the
                // provider puts its ssh options first: an `ssh` on PATH that does exactly that.
                const bin = path.join(dir, "bin");
                fs.mkdirSync(bin);
                const calls = path.join(dir, "ssh-calls.log");
                fs.writeFileSync(
                    path.join(bin, "ssh"),
                    `#!/bin/sh\necho "$*" >> ${calls}\nexec /usr/bin/ssh ${endpoint.sshOpts!.map(shellQuote).join(" ")} "$@"\n`,
                    { mode: 0o755 },
                );
                const context = path.join(dir, "context");
                fs.mkdirSync(context);
                fs.writeFileSync(path.join(context, "Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\n");
                fs.writeFileSync(path.join(context, "hello.txt"), `built over ${access}\n`);
                const tag = `truss-transport-test:${access}-${process.pid}`;
                made.push(tag);
                const env = { PATH: `${bin}:${process.env.PATH}` };
                const built = await docker(["-H", endpoint.host, "build", "-t", tag, context], { env, allowFailure: true });
                assert.strictEqual(built.code, 0, built.stdout + built.stderr);
                assert.match(fs.readFileSync(calls, "utf8"), /docker system dial-stdio/);
                const inspected = await docker(["image", "inspect", "--format", "{{.Id}}", tag]);
                assert.match(inspected.stdout.trim(), /^sha256:[0-9a-f]{64}$/, "the image is on the daemon behind sshd");
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    }
});
