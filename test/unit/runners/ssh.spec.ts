import * as assert from "assert";
import { showCommand } from "../../../src/runners/commandLine";
import { dockerCommand, dockerEndpoint, parseSshHost, sshAccessOf, sshDockerHost, sshOptions } from "../../../src/runners/ssh";
import { NO_INSTANCE_MESSAGE, ssmHostAlias, ssmProxyCommand } from "../../../src/runners/ssm";

/** `-o key=value` pairs of an ssh argument list, as "-o key=value" strings. */
function pairs(opts: readonly string[]): string[] {
    return opts.map((_, i) => (i % 2 === 0 ? `${opts[i]} ${opts[i + 1]}` : undefined)).filter((p): p is string => p !== undefined);
}

describe("reaching a runner", () => {
    it("gives the Docker provider one shared, non-interactive ssh connection with its own known_hosts", () => {
        const opts = sshOptions({});
        for (const expected of [
            "-o BatchMode=yes",
            "-o ControlMaster=auto",
            "-o ControlPath=~/.ssh/truss-base-images/cm-%C",
            "-o ControlPersist=10m",
            "-o StrictHostKeyChecking=accept-new",
            "-o UserKnownHostsFile=~/.ssh/truss-base-images/known_hosts",
            "-o ConnectTimeout=15",
        ]) {
            assert.ok(pairs(opts).includes(expected), `missing ${expected} in ${opts.join(" ")}`);
        }
        assert.ok(!opts.includes("-i"), "no key file unless configured: the ssh agent");
        assert.ok(!opts.some((o) => o.startsWith("ProxyCommand=")), "no ProxyCommand for access ssh");
        assert.deepStrictEqual(sshOptions({ privateKeyPath: "~/.ssh/truss-builders" }).slice(-4), [
            "-i",
            "~/.ssh/truss-builders",
            "-o",
            "IdentitiesOnly=yes",
        ]);
    });

    it("runs docker commands over ssh with the provider's options, and locally with -H", () => {
        const endpoint = { host: sshDockerHost("ubuntu", "203.0.113.10"), sshOpts: sshOptions({}) };
        const remote = dockerCommand(endpoint, ["info", "--format", "{{.ServerVersion}}"]);
        assert.strictEqual(remote.file, "ssh");
        assert.deepStrictEqual(remote.args.slice(0, endpoint.sshOpts.length), endpoint.sshOpts);
        assert.deepStrictEqual(remote.args.slice(-3), ["ubuntu@203.0.113.10", "--", "docker info --format '{{.ServerVersion}}'"]);
        assert.deepStrictEqual(dockerCommand({ host: "unix:///var/run/docker.sock" }, ["info"]), {
            file: "docker",
            args: ["-H", "unix:///var/run/docker.sock", "info"],
        });
        assert.deepStrictEqual(parseSshHost("ssh://ubuntu@203.0.113.10:2222"), { user: "ubuntu", hostname: "203.0.113.10", port: 2222 });
        assert.strictEqual(parseSshHost("unix:///var/run/docker.sock"), undefined);
        assert.strictEqual(showCommand({ file: "docker", args: ["run", "a b"] }), "docker run 'a b'");
    });
    it("what a resource stores of the ssh options is the key and the tunnel, if any; where it runs it gets the provider's very options back", () => {
        assert.equal(sshAccessOf({}), undefined, "nothing to store in the common case");
        assert.deepStrictEqual(sshAccessOf({ privateKeyPath: "~/.ssh/ci", proxyCommand: undefined }), { privateKeyPath: "~/.ssh/ci" });
        const access = { privateKeyPath: "~/.ssh/ci", proxyCommand: "aws ssm start-session --target %h" };
        assert.deepStrictEqual(sshAccessOf(access), access);
        const host = sshDockerHost("ubuntu", "203.0.113.10");
        assert.deepStrictEqual(dockerEndpoint(host, access), { host, sshOpts: sshOptions(access) });
        assert.deepStrictEqual(dockerEndpoint(host), { host, sshOpts: sshOptions({}) });
        assert.deepStrictEqual(
            dockerEndpoint("unix:///var/run/docker.sock", access),
            { host: "unix:///var/run/docker.sock" },
            "no ssh, no options",
        );
    });
});

describe("reaching a runner through Session Manager", () => {
    const target = { project: "truss-base-images", stack: "prod", runner: "gpu-0", region: "us-east-1" };

    it("names the runner by a fixed alias (its Name tag) that depends on no resource output", () => {
        assert.strictEqual(ssmHostAlias(target), "truss-base-images-prod-runner-gpu-0");
        assert.deepStrictEqual(parseSshHost(sshDockerHost("ubuntu", ssmHostAlias(target))), {
            user: "ubuntu",
            hostname: "truss-base-images-prod-runner-gpu-0",
            port: undefined,
        });
    });

    it("adds a ProxyCommand that finds the instance by the runner's tags and starts AWS-StartSSHSession on ssh's port", () => {
        const proxy = ssmProxyCommand(target);
        const opts = sshOptions({ proxyCommand: proxy });
        assert.deepStrictEqual(opts.slice(-2), ["-o", `ProxyCommand=${proxy}`]);
        assert.match(proxy, /^sh -c '[^']*'$/, "one shell word for ssh's /bin/sh");
        assert.match(proxy, /aws ec2 describe-instances --region us-east-1 --filters /);
        for (const filter of [
            "Name=tag:project,Values=truss-base-images",
            "Name=tag:stack,Values=prod",
            "Name=tag:runner,Values=gpu-0",
            "Name=instance-state-name,Values=pending,running",
        ]) {
            assert.ok(proxy.includes(filter), `${filter} missing from ${proxy}`);
        }
        assert.match(proxy, /sort_by\(Reservations\[\]\.Instances\[\], &LaunchTime\)\[-1\]\.InstanceId/, "the newest instance wins");
        assert.match(
            proxy,
            /exec aws ssm start-session --region us-east-1 --target "\$id" --document-name AWS-StartSSHSession --parameters portNumber=%p/,
        );
        assert.ok(proxy.includes(NO_INSTANCE_MESSAGE));
        assert.strictEqual((proxy.match(/%/g) ?? []).length, 1, "ssh expands %-tokens: only %p may appear");
        assert.ok(!ssmProxyCommand({ ...target, region: undefined }).includes("--region"), "no region: the AWS CLI's own default");
    });

    it("refuses names that cannot go into the ProxyCommand unquoted", () => {
        assert.throws(() => ssmProxyCommand({ ...target, stack: "prod'; rm -rf /" }), /cannot go into the ssh ProxyCommand/);
    });
});
