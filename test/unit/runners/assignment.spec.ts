import * as assert from "assert";
import fc from "fast-check";
import type { Ec2BuildersConfig } from "../../../src/config/runners";
import { loadCatalog } from "../../../src/images/catalog";
import { parseStackConfig } from "../../../src/config/stackConfig";
import type { ImageSpec } from "../../../src/images/spec";
import { expandMatrix, Matrix } from "../../../src/images/matrix";
import { repository } from "../../../src/images/naming";
import { planImages } from "../../../src/publish/plannedImages";
import { AssignableImage, assignmentKey, assignRunners, pickRunner } from "../../../src/runners/assignment";
import { runnerId, runnersOf, poolOf } from "../../../src/runners/pools";

const catalog = loadCatalog();
const REGISTRY = { server: "docker.io", namespace: "baseten" };
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1RUq2k3nLUbGN6zC4FfEA+GiDpisq6QU2xRiCHLdza operator@example";

function builders(gpu: number, cpu?: number, arm64?: number): Ec2BuildersConfig {
    const config = parseStackConfig(
        {
            versionTag: "v1",
            registry: REGISTRY,
            matrix: { jobTypes: ["server"], pythonVersions: ["3.9"], gpu: [true], liveReload: [false] },
            builders: {
                mode: "ec2",
                gpu: { instanceType: "g6.xlarge", count: gpu, volumeSizeGiB: 200 },
                ...(cpu === undefined ? {} : { cpu: { instanceType: "c7i.2xlarge", count: cpu, volumeSizeGiB: 100 } }),
                ...(arm64 === undefined ? {} : { arm64: { instanceType: "c7g.2xlarge", count: arm64, volumeSizeGiB: 100 } }),
                sshPublicKey: KEY,
                allowedCidrs: ["203.0.113.7/32"],
            },
        },
        catalog,
        "test",
    );
    if (config.builders.mode !== "ec2") throw new Error("expected ec2 builders");
    return config.builders;
}

function images(
    pythonVersions: string[],
    b: Ec2BuildersConfig,
    jobTypes = ["server", "training"],
    platform = "linux/amd64",
): AssignableImage[] {
    const matrix: Matrix = { jobTypes, pythonVersions, gpu: [false, true], liveReload: [false, true] };
    return expandMatrix(matrix).map((spec: ImageSpec) => ({
        spec,
        repository: repository(REGISTRY, spec.jobType),
        pool: poolOf(spec.accelerator, b, platform),
    }));
}

/** image key -> runner name */
function placement(list: AssignableImage[], b: Ec2BuildersConfig): Map<string, string> {
    const runners = assignRunners(list, b);
    return new Map(list.map((image, i) => [`${image.pool}/${assignmentKey(image)}`, runners[i].name]));
}

function moved(before: Map<string, string>, after: Map<string, string>): string[] {
    return [...before.keys()].filter((k) => after.has(k) && after.get(k) !== before.get(k));
}

const PYTHONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14"];

describe("runner assignment", () => {
    it("names runners by pool and index: gpu, cpu, then arm64", () => {
        assert.deepStrictEqual(
            runnersOf(builders(2, 1, 2)).map((r) => r.name),
            ["gpu-0", "gpu-1", "cpu-0", "arm64-0", "arm64-1"],
        );
        assert.deepStrictEqual(
            runnersOf(builders(1)).map((r) => r.name),
            ["gpu-0"],
        );
    });

    it("keys an image by repository and variant, never by version tag", () => {
        const [image] = images(["3.9"], builders(1)).filter((i) => i.spec.accelerator === "gpu" && i.spec.liveReload);
        assert.strictEqual(assignmentKey(image), "docker.io/baseten/truss-server-base:3.9-gpu-reload");
    });

    it("puts GPU images on gpu runners and CPU images on cpu runners (or gpu runners without a cpu pool)", () => {
        for (const b of [builders(2, 2), builders(2)]) {
            const list = images(["3.9", "3.10", "3.11"], b);
            const runners = assignRunners(list, b);
            list.forEach((image, i) => {
                const expected = image.spec.accelerator === "gpu" || b.cpu === undefined ? "gpu" : "cpu";
                assert.strictEqual(runners[i].pool, expected, `${assignmentKey(image)} on ${runners[i].name}`);
            });
        }
    });

    it("puts every linux/arm64 image, CPU and GPU, on an arm64 runner", () => {
        const b = builders(1, 1, 2);
        const list = images(["3.9", "3.10", "3.11"], b, ["server", "training"], "linux/arm64");
        const runners = assignRunners(list, b);
        assert.deepStrictEqual([...new Set(runners.map((r) => r.pool))], ["arm64"]);
        assert.strictEqual(new Set(runners.map((r) => r.name)).size, 2, "both arm64 runners build");
    });

    it("adding the arm64 pool moves no linux/amd64 image to another runner", () => {
        const before = builders(2, 1);
        const after = builders(2, 1, 2);
        const amd64Before = placement(images(PYTHONS, before), before);
        const amd64After = placement(images(PYTHONS, after), after);
        assert.deepStrictEqual([...amd64After.entries()], [...amd64Before.entries()]);
    });

    it("a version bump moves no image: the version tag is not in the key", () => {
        const plan = (versionTag: string) => {
            const config = parseStackConfig(
                {
                    versionTag,
                    registry: REGISTRY,
                    matrix: {
                        jobTypes: ["server", "training"],
                        pythonVersions: ["3.9", "3.10", "3.11"],
                        gpu: [false, true],
                        liveReload: [false, true],
                    },
                    builders: {
                        mode: "ec2",
                        gpu: { instanceType: "g6.xlarge", count: 4, volumeSizeGiB: 200 },
                        sshPublicKey: KEY,
                        allowedCidrs: [],
                    },
                },
                catalog,
                "test",
            );
            if (config.builders.mode !== "ec2") throw new Error("expected ec2 builders");
            const planned = planImages(config, catalog);
            return new Map(
                assignRunners(planned, config.builders).map((r, i) => [
                    `${planned[i].repository}:${planned[i].tag.replace(versionTag, "")}`,
                    r.name,
                ]),
            );
        };
        const before = plan("v0.2.2");
        const after = plan("v0.3.0");
        assert.strictEqual(before.size, 24);
        assert.deepStrictEqual([...after.entries()].sort(), [...before.entries()].sort());
    });

    it("shares images evenly between runners: within 10% of an equal share over many images", () => {
        const runners = [0, 1, 2, 3].map((i) => runnerId("gpu", i));
        const counts = new Map<string, number>();
        for (let i = 0; i < 4000; i++) {
            const r = pickRunner(`docker.io/baseten/truss-job${i % 40}-base:3.${i}-gpu`, runners).name;
            counts.set(r, (counts.get(r) ?? 0) + 1);
        }
        for (const r of runners) {
            const share = (counts.get(r.name) ?? 0) / 4000;
            assert.ok(Math.abs(share - 0.25) < 0.025, `${r.name} got ${(share * 100).toFixed(1)}%`);
        }
    });

    it("gives every runner of a pool work in the prod matrix", () => {
        for (const count of [2, 3]) {
            const b = builders(count, 1);
            const used = new Set(assignRunners(images(["3.9", "3.10", "3.11", "3.12"], b), b).map((r) => r.name));
            for (let i = 0; i < count; i++) assert.ok(used.has(`gpu-${i}`), `gpu-${i} of ${count} builds nothing`);
        }
    });
});

describe("runner assignment: properties (fast-check)", () => {
    const pythonSubset = fc.subarray(PYTHONS, { minLength: 1 });
    const counts = fc.record({ gpu: fc.integer({ min: 1, max: 6 }), cpu: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }) });

    it("every image goes to a runner of its own pool, whatever the order of the images", () => {
        fc.assert(
            fc.property(pythonSubset, counts, fc.boolean(), (pythons, c, reverse) => {
                const b = builders(c.gpu, c.cpu);
                const list = images(pythons, b);
                const ordered = reverse ? [...list].reverse() : list;
                const runners = assignRunners(ordered, b);
                ordered.forEach((image, i) => assert.strictEqual(runners[i].pool, image.pool));
                assert.deepStrictEqual(
                    [...placement(ordered, b).entries()].sort(),
                    [...placement(list, b).entries()].sort(),
                    "the order of the images changes nothing",
                );
            }),
            { numRuns: 60 },
        );
    });

    it("adding or removing python versions moves no other image", () => {
        fc.assert(
            fc.property(pythonSubset, pythonSubset, counts, (a, b2, c) => {
                const b = builders(c.gpu, c.cpu);
                assert.deepStrictEqual(moved(placement(images(a, b), b), placement(images(b2, b), b)), []);
            }),
            { numRuns: 60 },
        );
    });

    it("adding a runner moves images only onto it; removing it moves only its own images back", () => {
        fc.assert(
            fc.property(pythonSubset, counts, fc.constantFrom("gpu" as const, "cpu" as const), (pythons, c, grow) => {
                const cpu = c.cpu ?? 1;
                const small = builders(c.gpu, cpu);
                const big = grow === "gpu" ? builders(c.gpu + 1, cpu) : builders(c.gpu, cpu + 1);
                const added = grow === "gpu" ? `gpu-${c.gpu}` : `cpu-${cpu}`;
                const before = placement(images(pythons, small), small);
                const after = placement(images(pythons, big), big);
                for (const key of moved(before, after)) assert.strictEqual(after.get(key), added, `${key} moved to ${after.get(key)}`);
                for (const key of moved(after, before)) assert.strictEqual(after.get(key), added, `${key} left ${after.get(key)}`);
            }),
            { numRuns: 60 },
        );
    });
});
