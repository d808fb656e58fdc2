// The runners' ssh transport for real, for both access modes: a real OpenSSH server on
// loopback, started by the test with its own config and keys, stands in for a runner in front
// of this machine's Docker daemon. Access ssh dials its address; access ssm dials the runner's
// fixed name through the exact ProxyCommand the stack declares, with a stand-in AWS CLI on PATH
// that finds the instance by its tags and pipes the "session" to the loopback sshd. Only
// cloud-init is a stub (on the sessions' PATH); ssh, sshd, the gate and Docker are real.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { waitUntilReady } from "../../../src/pulumi/readiness";
import { runProcess } from "../../../src/pulumi/process";
import { shellQuote } from "../../../src/runners/commandLine";
import { DockerEndpoint, KNOWN_HOSTS_FILE, SSH_STATE_DIR, sshCommand, sshDockerHost, sshOptions } from "../../../src/runners/ssh";
import { ssmHostAlias, ssmProxyCommand } from "../../../src/runners/ssm";
import { docker, ensureDockerDaemon } from "../../support/docker";
import { callSerialized } from "../../support/dynamicProviders";
import { FakeAws, FakeInstance, installFakeAws } from "../../support/fakeAws";
import { freePort, LoopbackSshd, startLoopbackSshd } from "../../support/sshd";

const TARGET = { project: "truss-base-images", stack: "loopback-test", runner: "gpu-0", region: "us-east-1" };
const RUNNER_TAGS = { project: TARGET.project, stack: TARGET.stack, runner: TARGET.runner };
const INSTANCE: FakeInstance = { id: "i-0aaaaaaaaaaaaaaa1", tags: RUNNER_TAGS, state: "running", launchTime: "2026-01-01T00:00:00Z" };

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
        sshd = await startLoopbackSshd();
        aws = installFakeAws();
        aws.setInstances([INSTANCE]);
        Object.assign(process.env, aws.env(sshd.port), { PATH: `${aws.binDir}:${process.env.PATH}` });
        endpoints.ssh = {
            host: `${sshDockerHost(sshd.user, "127.0.0.1")}:${sshd.port}`,
            sshOpts: sshOptions({ privateKeyPath: sshd.clientKey }),
        };
        endpoints.ssm = {
            host: sshDockerHost(sshd.user, ssmHostAlias(TARGET)),
            sshOpts: sshOptions({ privateKeyPath: sshd.clientKey, proxyCommand: ssmProxyCommand(TARGET) }),
        };
    });

    after(async () => {
        for (const endpoint of Object.values(endpoints)) {
            // Close the shared connections the checks left (ControlPersist would keep them 10 minutes).
            await runProcess(sshCommand(endpoint, "true", ["-O", "exit"]), { timeoutMs: 10_000 });
        }
        for (const name of [`[127.0.0.1]:${sshd?.port}`, ssmHostAlias(TARGET)]) {
            await runProcess({ file: "ssh-keygen", args: ["-R", name, "-f", home(KNOWN_HOSTS_FILE)] }, { timeoutMs: 10_000 });
        }
        // The gate's record of which instance it last met at each host name.
        for (const hostname of ["127.0.0.1", ssmHostAlias(TARGET)])
            fs.rmSync(path.join(home(SSH_STATE_DIR), `${hostname}.instance`), { force: true });
        fs.rmSync(`${home(KNOWN_HOSTS_FILE)}.old`, { force: true });
        for (const image of made) await docker(["rmi", "-f", image], { allowFailure: true });
        for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
        Object.assign(process.env, savedEnv);
        await sshd?.stop();
        aws?.remove();
    });

    it("access ssh: the readiness gate passes over ssh to the address, with the provider's options", async () => {
        const ready = await waitUntilReady({
            runner: "gpu-0",
            endpoint: endpoints.ssh,
            access: "ssh",
            waitForCloudInit: true,
            timeoutSeconds: 60,
            instanceId: INSTANCE.id,
        });
        assert.strictEqual(ready.serverVersion, serverVersion);
        assert.match(sshd.log(), /Accepted publickey for \S+ from 127\.0\.0\.1/);
    });

    it("access ssm: the gate, as Pulumi runs it, passes through the ProxyCommand, which found the instance by the runner's tags", async () => {
        const before = aws.calls().length;
        const created = await callSerialized("ReadinessGate", "create", [
            {
                runner: "gpu-0",
                host: endpoints.ssm.host,
                // What the stack stores: the key and the tunnel; the provider makes the ssh options from them.
                ssh: { privateKeyPath: sshd.clientKey, proxyCommand: ssmProxyCommand(TARGET) },
                access: "ssm",
                waitForCloudInit: true,
                timeoutSeconds: 60,
                instanceId: INSTANCE.id,
                builds: ["docker.io/baseten/truss-server-base:3.11-gpu-v0.0.0"],
            },
        ]);
        assert.ok(created.ok, created.error);
        assert.strictEqual(created.result.outs.dockerVersion, serverVersion);
        const calls = aws.calls().slice(before);
        const describe = calls.find((c) => c[1] === "describe-instances");
        assert.ok(describe, JSON.stringify(calls));
        for (const filter of [
            "Name=tag:project,Values=truss-base-images",
            "Name=tag:stack,Values=loopback-test",
            "Name=tag:runner,Values=gpu-0",
        ]) {
            assert.ok(describe.includes(filter), `${filter} missing from ${describe.join(" ")}`);
        }
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

    it("access ssm: after the instance is replaced, the same host reaches the newest instance", async () => {
        const replacement: FakeInstance = { ...INSTANCE, id: "i-0bbbbbbbbbbbbbbb2", launchTime: "2026-02-01T00:00:00Z" };
        aws.setInstances([INSTANCE, replacement]);
        try {
            // A closed shared connection, as after the runner stopped: the next check dials anew.
            await runProcess(sshCommand(endpoints.ssm, "true", ["-O", "exit"]), { timeoutMs: 10_000 });
            const before = aws.calls().length;
            const ready = await waitUntilReady({
                runner: "gpu-0",
                endpoint: endpoints.ssm,
                access: "ssm",
                waitForCloudInit: true,
                timeoutSeconds: 60,
                instanceId: replacement.id,
            });
            assert.strictEqual(ready.serverVersion, serverVersion);
            const targets = aws
                .calls()
                .slice(before)
                .filter((c) => c[1] === "start-session")
                .map((c) => c[c.indexOf("--target") + 1]);
            assert.ok(targets.length > 0 && targets.every((t) => t === replacement.id), targets.join(", "));
        } finally {
            aws.setInstances([INSTANCE]);
        }
    });

    for (const access of ["ssh", "ssm"] as const) {
        it(`access ${access}: a failed first-boot setup (cloud-init stub says error) stops the gate at once, with its output and the fix`, async () => {
            sshd.setCloudInit("error");
            const t0 = Date.now();
            try {
                await assert.rejects(
                    waitUntilReady({ runner: "gpu-0", endpoint: endpoints[access], access, waitForCloudInit: true, timeoutSeconds: 60 }),
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

    it("access ssm: no running instance carries the runner's tags: the gate waits for one, then names the cause", async () => {
        aws.setInstances([{ ...INSTANCE, state: "stopped" }]);
        try {
            await assert.rejects(
                waitUntilReady({
                    runner: "gpu-0",
                    endpoint: endpoints.ssm,
                    access: "ssm",
                    waitForCloudInit: true,
                    timeoutSeconds: 4,
                    retryIntervalSeconds: 0.5,
                }),
                (e: Error) => {
                    assert.match(
                        e.message,
                        /^Build runner gpu-0 \(ssh:\/\/\S+@truss-base-images-loopback-test-runner-gpu-0\) was not ready within 4 s/,
                    );
                    assert.match(e.message, /no pending or running EC2 instance carries the tags of build runner gpu-0/);
                    assert.match(e.message, /likely cause: the runner's instance is not running/);
                    return true;
                },
            );
        } finally {
            aws.setInstances([INSTANCE]);
        }
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
            }),
            /was not ready within 3 s[\s\S]*Connection refused[\s\S]*likely cause: sshd refused or closed the connection/,
        );
    });

    it("access ssh: a key sshd does not accept: retried until the deadline, then the fix is named", async () => {
        const endpoint = { host: endpoints.ssh.host, sshOpts: sshOptions({ privateKeyPath: sshd.strangerKey }) };
        await assert.rejects(
            waitUntilReady({
                runner: "gpu-0",
                endpoint,
                access: "ssh",
                waitForCloudInit: true,
                timeoutSeconds: 3,
                retryIntervalSeconds: 0.5,
            }),
            /was not ready within 3 s[\s\S]*Permission denied \(publickey\)[\s\S]*likely cause: ssh rejected the key/,
        );
    });

    for (const access of ["ssh", "ssm"] as const) {
        it(`access ${access}: docker -H ssh://... builds an image on the daemon behind sshd, with the provider's exact ssh options`, async () => {
            const endpoint = endpoints[access];
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
