import * as assert from "assert";
import type { Ec2BuildersConfig } from "../../../src/config/runners";
import { notReadyMessage, parseDockerInfo, reachabilityNote, readFailure, readinessSteps } from "../../../src/runners/readiness";
import { sshOptions } from "../../../src/runners/ssh";
import { NO_INSTANCE_MESSAGE } from "../../../src/runners/ssm";

const endpoint = { host: "ssh://ubuntu@203.0.113.10", sshOpts: sshOptions({}) };

function builders(access: "ssh" | "ssm", allowedCidrs?: string[]): Ec2BuildersConfig {
    return {
        mode: "ec2",
        gpu: { instanceType: "g6.xlarge", count: 1, volumeSizeGiB: 200, spot: false },
        access,
        sshUser: "ubuntu",
        sshPublicKey: "ssh-ed25519 AAAA",
        allowedCidrs,
        idleStopMinutes: 30,
    };
}

describe("readiness steps", () => {
    it("over ssh: cloud-init on its own connection, then the provider's shared connection, fresh, for docker info", () => {
        const steps = readinessSteps(endpoint, { waitForCloudInit: true });
        assert.deepStrictEqual(
            steps.map((s) => s.what),
            [
                "ssh answers and cloud-init finished",
                "no shared ssh connection predates the runner's setup",
                "the Docker daemon answers `docker info`",
            ],
        );
        const [cloudInit, exit, info] = steps;
        assert.deepStrictEqual(cloudInit.command.args.slice(0, 4), ["-o", "ControlMaster=no", "-o", "ControlPath=none"]);
        assert.match(cloudInit.command.args[cloudInit.command.args.length - 1], /^cloud-init status --wait/);
        assert.deepStrictEqual(cloudInit.okExitCodes, [0, 2], "2 is cloud-init's 'done with recoverable errors'");
        assert.ok(exit.command.args.join(" ").includes("-O exit"));
        assert.deepStrictEqual(info.command.args.slice(0, endpoint.sshOpts.length), endpoint.sshOpts, "the provider's options, verbatim");
        assert.match(info.command.args[info.command.args.length - 1], /^docker info --format/);
    });

    it("locally: docker info against the socket, nothing else", () => {
        const steps = readinessSteps({ host: "unix:///var/run/docker.sock" }, { waitForCloudInit: true });
        assert.strictEqual(steps.length, 1);
        assert.deepStrictEqual(steps[0].command.args.slice(0, 3), ["-H", "unix:///var/run/docker.sock", "info"]);
    });

    it("reads docker info's version and runtimes", () => {
        assert.deepStrictEqual(parseDockerInfo("27.3.1 io.containerd.runc.v2,nvidia,runc,\n"), {
            serverVersion: "27.3.1",
            runtimes: ["io.containerd.runc.v2", "nvidia", "runc"],
        });
    });

    it("waits out what booting explains, stops at once on what it does not, and says what to do", () => {
        const [cloudInit, , info] = readinessSteps(endpoint, { waitForCloudInit: true });
        const read = (step: typeof info, code: number, out: string) => readFailure(step, code, out, { host: endpoint.host });
        const timedOut = read(cloudInit, 255, "ssh: connect to host 203.0.113.10 port 22: Connection timed out");
        assert.ok(timedOut.retry && /builders\.allowedCidrs/.test(timedOut.hint ?? ""), timedOut.hint);
        assert.strictEqual(read(cloudInit, 255, "ssh: connect to host 203.0.113.10 port 22: Connection refused").retry, true);
        const key = read(cloudInit, 255, "ubuntu@203.0.113.10: Permission denied (publickey).");
        assert.ok(key.retry && /ssh-add|sshPrivateKeyPath/.test(key.hint ?? ""), key.hint);
        const pinned = "~/.ssh/truss-base-images/truss-base-images-prod-runner-gpu-0.known_hosts";
        for (const out of [
            "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.",
            "No ED25519 host key is known for truss-base-images-prod-runner-gpu-0 and you have requested strict checking.\nHost key verification failed.",
        ]) {
            const refused = readFailure(info, 255, out, { host: endpoint.host, access: "ssh", pinnedKnownHosts: pinned });
            assert.strictEqual(refused.retry, false, "a host that does not prove the pinned key is refused at once, never waited out");
            assert.ok(
                (refused.hint ?? "").includes(`did not prove the host key the stack generated for this runner (pinned in ${pinned})`),
                refused.hint,
            );
            assert.match(refused.hint ?? "", /nothing was sent to it/);
            assert.match(refused.hint ?? "", /Elastic IP/);
            assert.match(refused.hint ?? "", /pulumi up --replace/);
            assert.doesNotMatch(refused.hint ?? "", /ssh-keygen -R/, "never advise forgetting the key");
        }
        const ssmRefused = readFailure(info, 255, "Host key verification failed.", {
            host: endpoint.host,
            access: "ssm",
            pinnedKnownHosts: pinned,
        });
        assert.match(ssmRefused.hint ?? "", /the instance the stack's state names is not the runner/);
        const setupFailed = read(cloudInit, 1, "status: error\n...");
        assert.ok(!setupFailed.retry && /user data/.test(setupFailed.hint ?? ""));
        assert.strictEqual(
            read(info, 1, "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock").retry,
            true,
        );
        assert.strictEqual(
            read(info, 1, "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?").retry,
            true,
        );
        assert.strictEqual(read(info, 127, "bash: docker: command not found").retry, false);
    });

    it("under Session Manager: waits for the instance and its agent, stops at once for a missing tool or a refused credential", () => {
        const [cloudInit] = readinessSteps(endpoint, { waitForCloudInit: true });
        const read = (out: string) => readFailure(cloudInit, 255, out, { host: endpoint.host, access: "ssm" });
        const closed = "\nConnection closed by UNKNOWN port 65535";
        const cases: [string, boolean, RegExp][] = [
            [
                `${NO_INSTANCE_MESSAGE} gpu-0 (project p, stack s) in /root/.ssh/x.instance${closed}`,
                false,
                /did not record the instance id/,
            ],
            [
                `An error occurred (TargetNotConnected) when calling the StartSession operation${closed}`,
                true,
                /AmazonSSMManagedInstanceCore/,
            ],
            [
                `SessionManagerPlugin is not found. Please refer to SessionManager Documentation here${closed}`,
                false,
                /session-manager-plugin/,
            ],
            [`sh: 1: aws: not found${closed}`, false, /AWS CLI is not installed/],
            [`Unable to locate credentials. You can configure credentials by running "aws configure".${closed}`, false, /ssm:StartSession/],
            [`An error occurred (AccessDeniedException) when calling the StartSession operation${closed}`, false, /ssm:StartSession/],
        ];
        for (const [output, retry, hint] of cases) {
            const reading = read(output);
            assert.strictEqual(reading.retry, retry, output);
            assert.match(reading.hint ?? "", hint, output);
        }
        assert.match(read("ssh: connect to host x port 22: Connection timed out").hint ?? "", /Session Manager tunnel/);
        assert.doesNotMatch(read("ssh: connect to host x port 22: Connection timed out").hint ?? "", /allowedCidrs/);
    });

    it("fails with a message naming the runner, its address, the check, its output and the cause", () => {
        const [, , info] = readinessSteps(endpoint, { waitForCloudInit: true });
        const message = notReadyMessage({
            runner: "gpu-0",
            host: endpoint.host,
            seconds: 900,
            timedOut: true,
            step: info,
            exitCode: 255,
            output: "ssh: connect to host 203.0.113.10 port 22: Connection timed out\n",
            hint: "nothing answered on port 22",
            configHint: reachabilityNote(builders("ssh", [])),
        });
        assert.match(
            message,
            /^Build runner gpu-0 \(ssh:\/\/ubuntu@203\.0\.113\.10\) was not ready within 900 s: the check "the Docker daemon answers `docker info`" failed \(exit code 255\)\./,
        );
        assert.match(message, /Connection timed out/);
        assert.match(message, /likely cause: nothing answered on port 22/);
        assert.match(message, /builders\.allowedCidrs is \[\]/);
        assert.strictEqual(reachabilityNote(builders("ssh", ["203.0.113.7/32"])), undefined);
        assert.strictEqual(reachabilityNote(builders("ssm")), undefined, "no inbound rule is expected under Session Manager");
    });
});
