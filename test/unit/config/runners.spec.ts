import * as assert from "assert";
import { GPU_INSTANCE_FAMILIES, isGravitonFamily } from "../../../src/config/instanceTypes";
import { sshPublicKeyProblem } from "../../../src/config/sshPublicKey";
import { loadCatalog } from "../../../src/images/catalog";
import { parseStackConfig } from "../../../src/config/stackConfig";
import { committedStack, configErrorOf } from "../../support/fixtures";

const catalog = loadCatalog();
const SOURCE = "Pulumi.test.yaml";
// A real key's shape (generated for these tests; its private half was never kept).
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1RUq2k3nLUbGN6zC4FfEA+GiDpisq6QU2xRiCHLdza operator@example";

function ec2Builders(over: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        mode: "ec2",
        gpu: { instanceType: "g6.xlarge", count: 1, volumeSizeGiB: 200 },
        cpu: { instanceType: "c7i.2xlarge", count: 1, volumeSizeGiB: 100 },
        sshPublicKey: KEY,
        allowedCidrs: ["203.0.113.7/32"],
        ...over,
    };
}

function raw(builders: Record<string, unknown>): Record<string, unknown> {
    return {
        versionTag: "v0.2.2",
        registry: { server: "docker.io", namespace: "baseten" },
        matrix: { jobTypes: ["server"], pythonVersions: ["3.9"], gpu: [false, true], liveReload: [false] },
        builders,
    };
}

/** The problems of a config that must be rejected. */
function problems(builders: Record<string, unknown>): string[] {
    return [...configErrorOf(() => parseStackConfig(raw(builders), catalog, SOURCE)).problems];
}

/** The one problem at `path`, which must also show the value given and what is allowed. */
function problemAt(builders: Record<string, unknown>, path: string, given: string | undefined, allowed: RegExp): string {
    const found = problems(builders);
    assert.strictEqual(found.length, 1, `expected one problem, got:\n${found.join("\n")}`);
    const [p] = found;
    assert.ok(p.startsWith(`truss-base-images:builders.${path}: `), `does not name the key path builders.${path}:\n${p}`);
    if (given !== undefined) assert.ok(p.includes(given), `does not show the value given (${given}):\n${p}`);
    assert.match(p, allowed);
    return p;
}

describe("builders config: ec2 runners", () => {
    it("accepts the README's example: a gpu and a cpu pool and fills in the defaults (ssh access, ubuntu, 30 idle minutes, on-demand)", () => {
        const config = parseStackConfig(raw(ec2Builders()), catalog, SOURCE);
        assert.deepStrictEqual(config.builders, {
            mode: "ec2",
            gpu: { instanceType: "g6.xlarge", count: 1, volumeSizeGiB: 200, spot: false },
            cpu: { instanceType: "c7i.2xlarge", count: 1, volumeSizeGiB: 100, spot: false },
            access: "ssh",
            sshUser: "ubuntu",
            sshPublicKey: KEY,
            allowedCidrs: ["203.0.113.7/32"],
            idleStopMinutes: 30,
        });
    });

    it("accepts the committed Pulumi.prod.yaml: gpu, cpu and arm64 (g5g) pools, ssh access, no inbound until someone adds an address", () => {
        const { config } = committedStack("prod");
        assert.strictEqual(config.builders.mode, "ec2");
        if (config.builders.mode !== "ec2") return;
        assert.strictEqual(config.builders.gpu.instanceType, "g6.xlarge");
        assert.strictEqual(config.builders.cpu?.instanceType, "c7i.2xlarge");
        assert.strictEqual(config.builders.arm64?.instanceType, "g5g.xlarge");
        assert.strictEqual(config.builders.access, "ssh");
        assert.deepStrictEqual(config.builders.allowedCidrs, []);
    });

    it("accepts an AMI override, spot, a key path, IPv6 blocks and no cpu pool", () => {
        const config = parseStackConfig(
            raw(
                ec2Builders({
                    gpu: { instanceType: "p4d.24xlarge", count: 2, volumeSizeGiB: 500, ami: "ami-0123456789abcdef0", spot: true },
                    cpu: undefined,
                    sshPrivateKeyPath: "~/.ssh/truss-builders",
                    allowedCidrs: ["2001:db8::/48", "198.51.100.0/24"],
                }),
            ),
            catalog,
            SOURCE,
        );
        assert.ok(config.builders.mode === "ec2" && config.builders.cpu === undefined && config.builders.gpu.spot);
    });

    it("requires the operator's public key, saying where it comes from", () => {
        problemAt(ec2Builders({ sshPublicKey: undefined }), "sshPublicKey", undefined, /required .*public key.*\.pub/);
    });

    it("refuses a private key pasted as the public key", () => {
        const privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
        const p = problemAt(
            ec2Builders({ sshPublicKey: privateKey }),
            "sshPublicKey",
            undefined,
            /is a private key; give the public key instead/,
        );
        assert.ok(!p.includes("b3BlbnNzaC1rZXktdjEAAAAA"), `the error repeats the private key:\n${p}`);
    });

    it("refuses a truncated or mislabelled public key, listing the key types allowed", () => {
        problemAt(
            ec2Builders({ sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me" }),
            "sshPublicKey",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me",
            /not a ssh-ed25519 key/,
        );
        problemAt(
            ec2Builders({ sshPublicKey: "ssh-dss AAAAB3NzaC1kc3M= me" }),
            "sshPublicKey",
            "ssh-dss",
            /allowed types: ssh-ed25519, ecdsa-sha2-nistp256/,
        );
        assert.strictEqual(sshPublicKeyProblem(KEY), undefined);
        assert.match(sshPublicKeyProblem(KEY.replace("ssh-ed25519", "ssh-rsa")) ?? "", /not a ssh-rsa key/);
    });

    it("refuses a CIDR block that is not one, and one with host bits set, saying which was meant", () => {
        problemAt(
            ec2Builders({ allowedCidrs: ["203.0.113.7"] }),
            "allowedCidrs[0]",
            '"203.0.113.7"',
            /not a CIDR block; allowed: .*203\.0\.113\.7\/32/,
        );
        problemAt(ec2Builders({ allowedCidrs: ["203.0.113.300/32"] }), "allowedCidrs[0]", "203.0.113.300/32", /not a CIDR block/);
        problemAt(
            ec2Builders({ allowedCidrs: ["203.0.113.7/24"] }),
            "allowedCidrs[0]",
            "203.0.113.7/24",
            /did you mean "203\.0\.113\.0\/24"/,
        );
        problemAt(ec2Builders({ allowedCidrs: ["2001:db8::1/32"] }), "allowedCidrs[0]", "2001:db8::1/32", /did you mean "2001:db8::\/32"/);
    });

    it("requires allowedCidrs to be written out, [] meaning no inbound at all", () => {
        problemAt(ec2Builders({ allowedCidrs: undefined }), "allowedCidrs", undefined, /\[\] means no inbound at all/);
        problemAt(ec2Builders({ allowedCidrs: "203.0.113.7/32" }), "allowedCidrs", '"203.0.113.7/32"', /expected the list of CIDR blocks/);
    });

    it("refuses a zero count, naming the pool and what to do instead", () => {
        problemAt(
            ec2Builders({ gpu: { instanceType: "g6.xlarge", count: 0, volumeSizeGiB: 200 } }),
            "gpu.count",
            "0",
            /at least 1: GPU images need a GPU runner/,
        );
        problemAt(
            ec2Builders({ cpu: { instanceType: "c7i.2xlarge", count: 0, volumeSizeGiB: 100 } }),
            "cpu.count",
            "0",
            /leave the cpu pool out/,
        );
        problemAt(ec2Builders({ gpu: { instanceType: "g6.xlarge", count: 1.5, volumeSizeGiB: 200 } }), "gpu.count", "1.5", /whole number/);
    });

    it("refuses a gpu instance type outside the NVIDIA GPU families, listing them", () => {
        const p = problemAt(
            ec2Builders({ gpu: { instanceType: "c7i.2xlarge", count: 1, volumeSizeGiB: 200 } }),
            "gpu.instanceType",
            "c7i.2xlarge",
            /allowed families: g4dn, g5, g6, g6e/,
        );
        for (const family of ["p3", "p4d", "p5"]) assert.ok(p.includes(family), p);
        problemAt(
            ec2Builders({ gpu: { instanceType: "g6 xlarge", count: 1, volumeSizeGiB: 200 } }),
            "gpu.instanceType",
            "g6 xlarge",
            /EC2 instance type such as g6\.xlarge/,
        );
        for (const family of GPU_INSTANCE_FAMILIES) {
            assert.doesNotThrow(() =>
                parseStackConfig(
                    raw(ec2Builders({ gpu: { instanceType: `${family}.xlarge`, count: 1, volumeSizeGiB: 200 } })),
                    catalog,
                    SOURCE,
                ),
            );
        }
    });

    it("refuses a Graviton type in the cpu or gpu pool, pointing to builders.arm64", () => {
        problemAt(
            ec2Builders({ cpu: { instanceType: "c7g.2xlarge", count: 1, volumeSizeGiB: 100 } }),
            "cpu.instanceType",
            "c7g.2xlarge",
            /Graviton \(arm64\).*x86_64 family.*builders\.arm64/,
        );
        problemAt(
            ec2Builders({ gpu: { instanceType: "g5g.xlarge", count: 1, volumeSizeGiB: 200 } }),
            "gpu.instanceType",
            "g5g.xlarge",
            /Graviton \(arm64\) type; .*builders\.arm64.*g4dn, g5, g6/,
        );
        assert.deepStrictEqual(["c7g", "m6gd", "im4gn", "a1", "t4g", "c7i", "m7i-flex", "g4dn", "c6in", "p4de"].map(isGravitonFamily), [
            true,
            true,
            true,
            true,
            true,
            false,
            false,
            false,
            false,
            false,
        ]);
    });

    it("refuses a root volume too small for the pool's AMI and image layers", () => {
        problemAt(
            ec2Builders({ gpu: { instanceType: "g6.xlarge", count: 1, volumeSizeGiB: 50 } }),
            "gpu.volumeSizeGiB",
            "50",
            /at least 100 GiB for the gpu pool/,
        );
    });

    it("refuses root, a malformed AMI id and an idle stop of zero minutes", () => {
        problemAt(ec2Builders({ sshUser: "root" }), "sshUser", '"root"', /unprivileged user in the docker group/);
        problemAt(
            ec2Builders({ gpu: { instanceType: "g6.xlarge", count: 1, volumeSizeGiB: 200, ami: "ubuntu-22.04" } }),
            "gpu.ami",
            "ubuntu-22.04",
            /AMI id such as ami-0123456789abcdef0/,
        );
        problemAt(ec2Builders({ idleStopMinutes: 0 }), "idleStopMinutes", "0", /at least 5 minutes/);
        problemAt(ec2Builders({ sshPrivateKeyPath: "~/.ssh/id_ed25519.pub" }), "sshPrivateKeyPath", "id_ed25519.pub", /names a public key/);
    });

    it("reports every bad runner key at once, with unknown keys and what is allowed there", () => {
        const found = problems(
            ec2Builders({
                sshPublicKey: undefined,
                allowedCidrs: ["10.0.0.1/8"],
                gpu: { instanceType: "m7i.large", count: 0, volumeSizeGiB: 200, spto: true },
            }),
        );
        assert.strictEqual(found.length, 5, found.join("\n"));
        assert.ok(
            found.some((p) => p.startsWith('truss-base-images:builders.gpu.spto: unknown key (did you mean "spot"?)')),
            found.join("\n"),
        );
    });

    it("names the builder modes when the mode is unknown", () => {
        problemAt({ mode: "k8s" }, "mode", '"k8s"', /allowed: "local", "ec2"/);
    });
});

describe("builders config: the arm64 pool", () => {
    it("accepts Graviton types with and without an NVIDIA GPU, with the same keys as the other pools", () => {
        for (const instanceType of ["c7g.2xlarge", "m7g.xlarge", "c8g.4xlarge", "t4g.large", "g5g.xlarge", "a1.metal"]) {
            const config = parseStackConfig(
                raw(ec2Builders({ arm64: { instanceType, count: 2, volumeSizeGiB: 120, spot: true, ami: "ami-0123456789abcdef0" } })),
                catalog,
                SOURCE,
            );
            assert.ok(config.builders.mode === "ec2");
            assert.deepStrictEqual(config.builders.arm64, {
                instanceType,
                count: 2,
                volumeSizeGiB: 120,
                spot: true,
                ami: "ami-0123456789abcdef0",
            });
        }
    });

    it("refuses an x86 type in the arm64 pool, naming the Graviton families allowed", () => {
        for (const instanceType of ["c7i.2xlarge", "g6.xlarge", "m7i-flex.large"]) {
            const p = problemAt(
                ec2Builders({ arm64: { instanceType, count: 1, volumeSizeGiB: 100 } }),
                "arm64.instanceType",
                instanceType,
                /is not a Graviton \(arm64\) type .*allowed: Graviton families: a1 and those with a g after the generation, e\.g\. c7g, m7g/,
            );
            assert.match(p, /g5g with NVIDIA GPUs/);
        }
    });

    it("refuses a zero count and a volume too small, as for the other pools", () => {
        problemAt(
            ec2Builders({ arm64: { instanceType: "c7g.2xlarge", count: 0, volumeSizeGiB: 100 } }),
            "arm64.count",
            "0",
            /leaves the arm64 pool out/,
        );
        problemAt(
            ec2Builders({ arm64: { instanceType: "c7g.2xlarge", count: 1, volumeSizeGiB: 10 } }),
            "arm64.volumeSizeGiB",
            "10",
            /at least 30 GiB for the arm64 pool/,
        );
    });
});

describe("builders config: access", () => {
    it("ssm needs no allowedCidrs, and defaults nothing in", () => {
        const config = parseStackConfig(raw(ec2Builders({ access: "ssm", allowedCidrs: undefined })), catalog, SOURCE);
        assert.ok(config.builders.mode === "ec2");
        assert.strictEqual(config.builders.access, "ssm");
        assert.strictEqual(config.builders.allowedCidrs, undefined);
        assert.doesNotThrow(() => parseStackConfig(raw(ec2Builders({ access: "ssm", allowedCidrs: [] })), catalog, SOURCE));
    });

    it("ssm with allowedCidrs is refused: they would open nothing", () => {
        problemAt(
            ec2Builders({ access: "ssm" }),
            "allowedCidrs",
            undefined,
            /has no effect with access: ssm .*remove it, or use access: ssh/,
        );
    });

    it("ssh (the default) still requires allowedCidrs, and the problem is reported with the others", () => {
        const found = problems(ec2Builders({ allowedCidrs: undefined, idleStopMinutes: 0 }));
        assert.strictEqual(found.length, 2, found.join("\n"));
        assert.ok(
            found.some((p) =>
                /^truss-base-images:builders\.allowedCidrs: required with access: ssh; .*\[\] means no inbound at all/.test(p),
            ),
        );
    });

    it("names the access modes when the mode is unknown", () => {
        problemAt(ec2Builders({ access: "vpn" }), "access", '"vpn"', /allowed: "ssh", "ssm"/);
    });
});

describe("ssh public keys (sshpk)", () => {
    it("accepts the key types OpenSSH offers, refuses short RSA keys and FIDO keys with the reason", () => {
        assert.strictEqual(sshPublicKeyProblem(KEY), undefined);
        // A 1024-bit RSA key, generated for this test (its private half was not kept).
        const rsa1024 =
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDgyBuzyN2AyWM4iEYVGqChLBjeLWupY5IyLXhi8M21gwWGjPwl30MtNYuQ1VRH4o/7PDVOfrruUHS1B0FiQmxhfi71dZsr+ujCvQljE+j9rFI/mti2wycaxgL7i0+pZB8CtwoZ7++EtuyLrH6zTi2klp9+KVimQtyEM7C1/0oonw== old";
        assert.match(sshPublicKeyProblem(rsa1024) ?? "", /^is an RSA key of 1024 bits; at least 2048 bits/);
        assert.match(
            sshPublicKeyProblem("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t me") ?? "",
            /FIDO security key.*touch/,
        );
        assert.match(sshPublicKeyProblem(`${KEY}\n${KEY}`) ?? "", /more than one line/);
    });
});
