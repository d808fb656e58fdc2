import * as assert from "assert";
import { showCommand } from "../../../src/runners/commandLine";
import { generateHostKey, hostPublicKey, knownHostsLine } from "../../../src/runners/hostKey";
import {
    dockerCommand,
    dockerEndpoint,
    parseSshHost,
    pinnedInstanceFile,
    pinnedKnownHostsFile,
    runnerHostAlias,
    sshAccessOf,
    sshDockerHost,
    sshOptions,
} from "../../../src/runners/ssh";
import { NO_INSTANCE_MESSAGE, ssmHostAlias, ssmProxyCommand } from "../../../src/runners/ssm";

/** `-o key=value` pairs of an ssh argument list, as "-o key=value" strings. */
function pairs(opts: readonly string[]): string[] {
    return opts.map((_, i) => (i % 2 === 0 ? `${opts[i]} ${opts[i + 1]}` : undefined)).filter((p): p is string => p !== undefined);
}

describe("reaching a runner", () => {
    it("gives the Docker provider one shared, non-interactive ssh connection that accepts only the runner's pinned host key", () => {
        const alias = "truss-base-images-prod-runner-gpu-0";
        const opts = sshOptions({ hostKeyAlias: alias });
        for (const expected of [
            "-o BatchMode=yes",
            "-o ControlMaster=auto",
            "-o ControlPath=~/.ssh/truss-base-images/cm-%C",
            "-o ControlPersist=10m",
            "-o StrictHostKeyChecking=yes",
            `-o UserKnownHostsFile=~/.ssh/truss-base-images/${alias}.known_hosts`,
            "-o GlobalKnownHostsFile=/dev/null",
            "-o UpdateHostKeys=no",
            `-o HostKeyAlias=${alias}`,
            "-o ConnectTimeout=15",
        ]) {
            assert.ok(pairs(opts).includes(expected), `missing ${expected} in ${opts.join(" ")}`);
        }
        assert.ok(!opts.some((o) => /accept-new|StrictHostKeyChecking=no/.test(o)), "nothing is trusted on first use");
        assert.deepStrictEqual(
            pairs(sshOptions({})).filter((p) => /HostKey|KnownHosts/.test(p)),
            [
                "-o StrictHostKeyChecking=yes",
                "-o UserKnownHostsFile=~/.ssh/truss-base-images/known_hosts",
                "-o GlobalKnownHostsFile=/dev/null",
                "-o UpdateHostKeys=no",
            ],
            "without a runner's alias: still strict, against the keys an operator recorded by hand",
        );
        assert.ok(!opts.includes("-i"), "no key file unless configured: the ssh agent");
        assert.throws(() => sshOptions({ hostKeyAlias: "a b;rm" }), /host alias "a b;rm" may only have letters, digits/);
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
        assert.equal(sshAccessOf({}), undefined, "nothing to store when nothing is set");
        assert.deepStrictEqual(sshAccessOf({ hostKeyAlias: "p-s-runner-gpu-0" }), { hostKeyAlias: "p-s-runner-gpu-0" });
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
        assert.strictEqual(runnerHostAlias(target), ssmHostAlias(target), "the host key alias is the Session Manager host name");
        assert.deepStrictEqual(parseSshHost(sshDockerHost("ubuntu", ssmHostAlias(target))), {
            user: "ubuntu",
            hostname: "truss-base-images-prod-runner-gpu-0",
            port: undefined,
        });
    });

    it("adds a ProxyCommand that starts AWS-StartSSHSession on ssh's port of the instance the state names, never one found by its tags", () => {
        const proxy = ssmProxyCommand(target);
        const opts = sshOptions({ hostKeyAlias: ssmHostAlias(target), proxyCommand: proxy });
        assert.deepStrictEqual(opts.slice(-2), ["-o", `ProxyCommand=${proxy}`]);
        assert.match(proxy, /^sh -c '[^']*'$/, "one shell word for ssh's /bin/sh");
        assert.ok(!/describe-instances|tag:/.test(proxy), "no look-up by tags: whoever can tag an instance gets nothing");
        assert.ok(proxy.includes(`f="$HOME/.ssh/truss-base-images/truss-base-images-prod-runner-gpu-0.instance"`), proxy);
        assert.strictEqual(
            pinnedInstanceFile(ssmHostAlias(target)),
            "~/.ssh/truss-base-images/truss-base-images-prod-runner-gpu-0.instance",
        );
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

describe("a runner's host key", () => {
    it("is a fresh ed25519 key each time, in OpenSSH's formats, named after the runner in its private half", () => {
        const a = generateHostKey("truss-base-images-prod-runner-gpu-0");
        const b = generateHostKey("truss-base-images-prod-runner-gpu-0");
        assert.match(a.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END OPENSSH PRIVATE KEY-----\n$/);
        assert.match(
            a.publicKey,
            /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+=*$/,
            "no comment: every resource that pins it stores it",
        );
        const comment = Buffer.from(a.privateKey.split("\n").slice(1, -2).join(""), "base64").toString("latin1");
        assert.ok(comment.includes("truss-base-images-prod-runner-gpu-0"), "the private key carries the runner's name");
        assert.notStrictEqual(a.publicKey.split(" ")[1], b.publicKey.split(" ")[1]);
        assert.notStrictEqual(a.privateKey, b.privateKey);
    });

    it("is pinned under the runner's alias, in a known_hosts file of its own", () => {
        const key = generateHostKey("comment");
        const [type, data] = key.publicKey.split(" ");
        assert.strictEqual(knownHostsLine("p-s-runner-gpu-0", key.publicKey), `p-s-runner-gpu-0 ${type} ${data}\n`);
        assert.strictEqual(pinnedKnownHostsFile("p-s-runner-gpu-0"), "~/.ssh/truss-base-images/p-s-runner-gpu-0.known_hosts");
    });

    it("refuses to pin anything but an ed25519 public key, saying what it got", () => {
        for (const bad of [
            "",
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7",
            "ssh-ed25519 not-base64!",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC7",
        ]) {
            assert.throws(
                () => hostPublicKey(bad),
                /a runner's pinned host key must be one line "ssh-ed25519 <base64 key>" as the stack generates it; got/,
                bad,
            );
        }
    });
});
