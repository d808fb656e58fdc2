import * as assert from "assert";
import { loadCatalog } from "../../../src/images/catalog";
import { parseStackConfig } from "../../../src/config/stackConfig";
import { expandMatrix, Matrix } from "../../../src/images/matrix";
import { committedRawConfig, committedStack, specKey } from "../../support/fixtures";

const SEED_ERA: Matrix = {
    jobTypes: ["server", "training"],
    pythonVersions: ["3.8", "3.9", "3.10"],
    gpu: [false, true],
    liveReload: [false, true],
};

describe("matrix expansion", () => {
    it("the seed-era matrix is 2 job types x 3 pythons x cpu/gpu x reload off/on = 24 distinct images", () => {
        const specs = expandMatrix(SEED_ERA);
        assert.strictEqual(specs.length, 24);
        assert.strictEqual(new Set(specs.map(specKey)).size, 24);
    });

    it("orders by job type, then python, then cpu before gpu, then reload off before on", () => {
        assert.deepStrictEqual(expandMatrix(SEED_ERA).map(specKey), [
            "server 3.8 cpu",
            "server 3.8 cpu reload",
            "server 3.8 gpu",
            "server 3.8 gpu reload",
            "server 3.9 cpu",
            "server 3.9 cpu reload",
            "server 3.9 gpu",
            "server 3.9 gpu reload",
            "server 3.10 cpu",
            "server 3.10 cpu reload",
            "server 3.10 gpu",
            "server 3.10 gpu reload",
            "training 3.8 cpu",
            "training 3.8 cpu reload",
            "training 3.8 gpu",
            "training 3.8 gpu reload",
            "training 3.9 cpu",
            "training 3.9 cpu reload",
            "training 3.9 gpu",
            "training 3.9 gpu reload",
            "training 3.10 cpu",
            "training 3.10 cpu reload",
            "training 3.10 gpu",
            "training 3.10 gpu reload",
        ]);
    });

    it("follows the order the config lists values in", () => {
        const specs = expandMatrix({ jobTypes: ["training", "server"], pythonVersions: ["3.10", "3.9"], gpu: [true, false], liveReload: [true] });
        assert.deepStrictEqual(specs.map(specKey), [
            "training 3.10 gpu reload",
            "training 3.10 cpu reload",
            "training 3.9 gpu reload",
            "training 3.9 cpu reload",
            "server 3.10 gpu reload",
            "server 3.10 cpu reload",
            "server 3.9 gpu reload",
            "server 3.9 cpu reload",
        ]);
    });

    it("the seed's single-image example (--use-gpu y --python-version 3.9 --job-type server) is one image", () => {
        const specs = expandMatrix({ jobTypes: ["server"], pythonVersions: ["3.9"], gpu: [true], liveReload: [false] });
        assert.deepStrictEqual(specs, [{ jobType: "server", python: "3.9", accelerator: "gpu", liveReload: false }]);
    });

    it("a smaller matrix selects a subset of the larger one, in the same relative order", () => {
        const full = expandMatrix(SEED_ERA).map(specKey);
        const subsets: Matrix[] = [
            { ...SEED_ERA, jobTypes: ["training"] },
            { ...SEED_ERA, pythonVersions: ["3.9"] },
            { ...SEED_ERA, gpu: [true] },
            { ...SEED_ERA, liveReload: [false] },
            { jobTypes: ["server"], pythonVersions: ["3.8", "3.10"], gpu: [false], liveReload: [true] },
        ];
        const expectedCounts = [12, 8, 12, 12, 2];
        subsets.forEach((m, i) => {
            const sub = expandMatrix(m).map(specKey);
            assert.strictEqual(sub.length, expectedCounts[i], JSON.stringify(m));
            assert.deepStrictEqual(
                full.filter((k) => sub.includes(k)),
                sub,
                `subset ${JSON.stringify(m)} is not the full matrix filtered`,
            );
        });
    });

    it("the committed stacks expand to 4 images (dev) and 32 (prod)", () => {
        const catalog = loadCatalog();
        const dev = parseStackConfig(committedRawConfig("dev"), catalog, "Pulumi.dev.yaml");
        const prod = committedStack("prod").config;
        assert.deepStrictEqual(expandMatrix(dev.matrix).map(specKey), ["server 3.9 cpu", "server 3.9 gpu", "training 3.9 cpu", "training 3.9 gpu"]);
        const prodSpecs = expandMatrix(prod.matrix);
        // prod: server images for every python of the (fixture) Truss checkout, cpu and gpu, no reload.
        assert.strictEqual(prodSpecs.length, 1 * 6 * 2 * 1);
        assert.strictEqual(new Set(prodSpecs.map(specKey)).size, 12);
    });
});
