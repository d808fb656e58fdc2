import * as assert from "assert";
import { BuildersConfig, Ec2BuildersConfig, platformProblems } from "../../../src/config/runners";
import { loadCatalog } from "../../../src/images/catalog";
import { parseStackConfig } from "../../../src/config/stackConfig";
import { amiQueryFor, CANONICAL_OWNER } from "../../../src/runners/amis";
import { poolHasNvidiaGpu, poolOf, runnerId } from "../../../src/runners/pools";
import { smokeChecksFor } from "../../../src/runners/smokeChecks";
import { runnerTags } from "../../../src/runners/awsTags";

const catalog = loadCatalog();
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1RUq2k3nLUbGN6zC4FfEA+GiDpisq6QU2xRiCHLdza operator@example";

function ec2(over: Record<string, unknown> = {}): Ec2BuildersConfig {
    const config = parseStackConfig(
        {
            versionTag: "v1",
            registry: { server: "docker.io", namespace: "baseten" },
            matrix: { jobTypes: ["server"], pythonVersions: ["3.9"], gpu: [true], liveReload: [false] },
            builders: {
                mode: "ec2",
                gpu: { instanceType: "g6.xlarge", count: 1, volumeSizeGiB: 200 },
                cpu: { instanceType: "c7i.2xlarge", count: 1, volumeSizeGiB: 100 },
                sshPublicKey: KEY,
                allowedCidrs: [],
                ...over,
            },
        },
        catalog,
        "test",
    );
    if (config.builders.mode !== "ec2") throw new Error("expected ec2 builders");
    return config.builders;
}

const ARM = { instanceType: "c7g.2xlarge", count: 1, volumeSizeGiB: 100 };
const ARM_GPU = { instanceType: "g5g.xlarge", count: 1, volumeSizeGiB: 200 };

describe("runner pools", () => {
    it("linux/amd64 (the default platform): GPU images on gpu, CPU images on cpu, or gpu when there is no cpu pool", () => {
        const withCpu = ec2();
        const gpuOnly = ec2({ cpu: undefined });
        assert.deepStrictEqual(
            [poolOf("gpu", withCpu), poolOf("cpu", withCpu), poolOf("gpu", gpuOnly), poolOf("cpu", gpuOnly)],
            ["gpu", "cpu", "gpu", "gpu"],
        );
        assert.strictEqual(poolOf("cpu", withCpu, "linux/amd64"), "cpu");
        assert.strictEqual(poolOf("gpu", { mode: "local" }), "local");
        assert.strictEqual(poolOf("gpu", { mode: "local" }, "linux/arm64"), "local", "the local daemon builds every platform");
    });

    it("linux/arm64: CPU and GPU images on the arm64 pool; none without one, saying what to add", () => {
        const b = ec2({ arm64: ARM });
        assert.deepStrictEqual([poolOf("cpu", b, "linux/arm64"), poolOf("gpu", b, "linux/arm64")], ["arm64", "arm64"]);
        assert.throws(() => poolOf("cpu", ec2(), "linux/arm64"), /add builders\.arm64/);
        assert.throws(
            () => poolOf("cpu", b, "linux/s390x"),
            /no runner pool builds linux\/s390x; runners build linux\/amd64, linux\/arm64/,
        );
    });

    it("a stack asking for linux/arm64 with ec2 builders and no arm64 pool is a config problem at builders.arm64", () => {
        const [problem, ...rest] = platformProblems(ec2(), ["linux/amd64", "linux/arm64"]);
        assert.deepStrictEqual(rest, []);
        assert.deepStrictEqual(problem.path, ["builders", "arm64"]);
        assert.match(problem.message, /^is required: matrix\.platforms includes linux\/arm64 and builders\.mode is ec2.*c7g\.2xlarge/);
        assert.deepStrictEqual(platformProblems(ec2({ arm64: ARM }), ["linux/amd64", "linux/arm64"]), []);
        assert.deepStrictEqual(platformProblems(ec2(), ["linux/amd64"]), [], "amd64 only needs no arm64 pool");
        assert.deepStrictEqual(platformProblems({ mode: "local" } as BuildersConfig, ["linux/arm64"]), [], "local: emulation, not a pool");
        assert.deepStrictEqual(platformProblems(undefined, ["linux/arm64"]), [], "an invalid builders key is reported by its own check");
    });

    it("knows which pools have an NVIDIA GPU: gpu always, arm64 only with g5g", () => {
        assert.strictEqual(poolHasNvidiaGpu("gpu", ec2()), true);
        assert.strictEqual(poolHasNvidiaGpu("cpu", ec2()), false);
        assert.strictEqual(poolHasNvidiaGpu("arm64", ec2({ arm64: ARM })), false);
        assert.strictEqual(poolHasNvidiaGpu("arm64", ec2({ arm64: ARM_GPU })), true);
    });

    it("smoke tests: full GPU checks where the runner has an NVIDIA GPU, library checks on an arm64 pool without one", () => {
        for (const [b, expected] of [
            [ec2({ arm64: ARM_GPU }), "gpu"],
            [ec2({ arm64: ARM }), "gpu-libraries"],
        ] as const) {
            assert.strictEqual(smokeChecksFor("gpu", poolHasNvidiaGpu("arm64", b)), expected);
            assert.strictEqual(smokeChecksFor("cpu", poolHasNvidiaGpu("arm64", b)), "cpu");
        }
        assert.strictEqual(smokeChecksFor("gpu", poolHasNvidiaGpu("gpu", ec2())), "gpu");
    });
});

describe("runner AMIs and tags", () => {
    it("looks up the Deep Learning Base GPU AMI of the architecture for NVIDIA types, Ubuntu 22.04 otherwise", () => {
        assert.deepStrictEqual(amiQueryFor("gpu", "g6.xlarge"), {
            owners: ["amazon"],
            name: "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *",
            architecture: "x86_64",
            what: "the AWS Deep Learning Base GPU AMI (Ubuntu 22.04): NVIDIA driver, Docker and the NVIDIA container toolkit",
        });
        const cpu = amiQueryFor("cpu", "c7i.2xlarge");
        assert.deepStrictEqual(
            [cpu.owners, cpu.name, cpu.architecture],
            [[CANONICAL_OWNER], "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*", "x86_64"],
        );
        const armGpu = amiQueryFor("arm64", "g5g.xlarge");
        assert.deepStrictEqual(
            [armGpu.owners, armGpu.name, armGpu.architecture],
            [["amazon"], "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *", "arm64"],
        );
        const arm = amiQueryFor("arm64", "m7g.large");
        assert.deepStrictEqual(
            [arm.owners, arm.name, arm.architecture],
            [[CANONICAL_OWNER], "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-arm64-server-*", "arm64"],
        );
    });

    it("tags every resource with Name, project, stack and pool, and a runner's with the runner", () => {
        assert.deepStrictEqual(runnerTags({ project: "truss-base-images", stack: "prod", pool: "gpu", runner: runnerId("gpu", 0) }), {
            Name: "truss-base-images-prod-runner-gpu-0",
            project: "truss-base-images",
            stack: "prod",
            pool: "gpu",
            runner: "gpu-0",
        });
        assert.strictEqual(runnerTags({ project: "p", stack: "s", pool: "arm64" }).Name, "p-s-runners-arm64");
    });
});
