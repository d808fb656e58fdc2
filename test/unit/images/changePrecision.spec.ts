// Change precision: editing one input of images/ (or one parent override) changes the content
// digest of exactly the images that use it, over the whole catalog, and no other image's.
import * as assert from "assert";
import { Catalog, loadCatalog } from "../../../src/images/catalog";
import { parseStackConfig, StackConfig } from "../../../src/config/stackConfig";
import type { ImageSpec } from "../../../src/images/spec";
import { planImages } from "../../../src/publish/plannedImages";
import { copyImages, editFile, fullCatalogMatrix, replaceOnce, specKey } from "../../support/fixtures";

const PINNED = "@sha256:" + "ab".repeat(32);

/** A stack that publishes every image the catalog can build. */
function fullStack(catalog: Catalog, extra: Record<string, unknown> = {}): StackConfig {
    return parseStackConfig(
        {
            versionTag: "v0.2.2",
            registry: { server: "docker.io", namespace: "baseten" },
            matrix: fullCatalogMatrix(catalog),
            builders: { mode: "local" },
            ...extra,
        },
        catalog,
        "test",
    );
}

/** image key -> content digest, for every image of the catalog. */
function digests(catalog: Catalog, extra: Record<string, unknown> = {}): Map<string, string> {
    return new Map(planImages(fullStack(catalog, extra), catalog).map((p) => [specKey(p.spec), p.contentDigest]));
}

/** The images whose digest differs between two runs, sorted. */
function changed(before: Map<string, string>, after: Map<string, string>): string[] {
    assert.deepStrictEqual([...after.keys()].sort(), [...before.keys()].sort(), "the set of images changed");
    return [...before.keys()].filter((k) => before.get(k) !== after.get(k)).sort();
}

describe("change precision: an edit republishes exactly the images that use what was edited", () => {
    const baseCatalog = loadCatalog(copyImages());
    const baseline = digests(baseCatalog);
    const everyImage = planImages(fullStack(baseCatalog), baseCatalog).map((p) => p.spec);
    const expectedKeys = (uses: (s: ImageSpec) => boolean): string[] => everyImage.filter(uses).map(specKey).sort();

    it("the catalog matrix is the full catalog: 2 job types x 7 pythons x cpu/gpu x reload off/on", () => {
        assert.strictEqual(baseline.size, 56);
    });

    const edits: { what: string; edit: (dir: string) => void; uses: (s: ImageSpec) => boolean }[] = [
        {
            what: "the server requirements",
            edit: (dir) => editFile(dir, "requirements/server.txt", (t) => t.replace("uvloop>=0.19.0", "uvloop>=0.21.0")),
            uses: (s) => s.jobType === "server",
        },
        {
            what: "the training requirements",
            edit: (dir) => editFile(dir, "requirements/training.txt", (t) => t + "accelerate==1.0.0\n"),
            uses: (s) => s.jobType === "training",
        },
        {
            what: "the control requirements",
            edit: (dir) => editFile(dir, "requirements/control.txt", (t) => t.replace("tenacity==8.1.0", "tenacity==8.2.0")),
            uses: (s) => s.liveReload,
        },
        {
            what: "the GPU Dockerfile",
            edit: (dir) => editFile(dir, "Dockerfile.gpu", (t) => t.replace("libgomp1 \\", "libgomp1 \\\n      libnccl2 \\")),
            uses: (s) => s.accelerator === "gpu",
        },
        {
            what: "the CPU Dockerfile",
            edit: (dir) => editFile(dir, "Dockerfile.cpu", (t) => t.replace("ENV PYTHONUNBUFFERED=True", "ENV PYTHONUNBUFFERED=True PIP_NO_CACHE_DIR=1")),
            uses: (s) => s.accelerator === "cpu",
        },
        {
            what: "gpuAptPackages of python 3.9",
            edit: (dir) => replaceOnce(dir, "catalog.yaml", "[python3.9-distutils]", "[python3.9-distutils, python3.9-lib2to3]"),
            uses: (s) => s.python === "3.9" && s.accelerator === "gpu",
        },
        {
            what: "getPipUrl of python 3.8",
            edit: (dir) => replaceOnce(dir, "catalog.yaml", "https://bootstrap.pypa.io/pip/3.8/get-pip.py", "https://example.com/pip/3.8/get-pip.py"),
            uses: (s) => s.python === "3.8" && s.accelerator === "gpu",
        },
        {
            what: "a cpuParent for python 3.11",
            edit: (dir) => replaceOnce(dir, "catalog.yaml", "[python3.11-distutils]", "[python3.11-distutils]\n    cpuParent: python:3.11-slim-bookworm"),
            uses: (s) => s.python === "3.11" && s.accelerator === "cpu",
        },
        {
            what: "the CPU parent template of the catalog",
            edit: (dir) => replaceOnce(dir, "catalog.yaml", 'parent: "python:{python}"', 'parent: "python:{python}-bookworm"'),
            uses: (s) => s.accelerator === "cpu",
        },
        {
            what: "the GPU parent of the catalog",
            edit: (dir) => replaceOnce(dir, "catalog.yaml", 'parent: "nvidia/cuda:12.8.1-base-ubuntu22.04"', 'parent: "nvidia/cuda:12.8.2-base-ubuntu22.04"'),
            uses: (s) => s.accelerator === "gpu",
        },
    ];

    for (const { what, edit, uses } of edits) {
        it(`editing ${what}`, () => {
            const dir = copyImages();
            edit(dir);
            const expected = expectedKeys(uses);
            assert.ok(expected.length > 0 && expected.length < everyImage.length, "the edit must concern some images, not all");
            assert.deepStrictEqual(changed(baseline, digests(loadCatalog(dir))), expected);
        });
    }

    it("a parent override of python:3.9 (a pinned digest) changes the cpu 3.9 images only", () => {
        const after = digests(baseCatalog, { parents: { "python:3.9": `python:3.9${PINNED}` } });
        assert.deepStrictEqual(changed(baseline, after), expectedKeys((s) => s.python === "3.9" && s.accelerator === "cpu"));
    });

    it("a parent override of the CUDA image changes every gpu image and no cpu image", () => {
        const after = digests(baseCatalog, { parents: { "nvidia/cuda:12.8.1-base-ubuntu22.04": `nvidia/cuda:12.8.1-base-ubuntu22.04${PINNED}` } });
        assert.deepStrictEqual(changed(baseline, after), expectedKeys((s) => s.accelerator === "gpu"));
    });

    it("a parent override to the same reference changes nothing", () => {
        assert.deepStrictEqual(changed(baseline, digests(baseCatalog, { parents: { "python:3.9": "python:3.9" } })), []);
    });

    it("adding a python version to the catalog changes no existing image", () => {
        const dir = copyImages();
        replaceOnce(dir, "catalog.yaml", '"3.14": {}', '"3.14": {}\n  "3.15": {}');
        const catalog = loadCatalog(dir);
        const after = digests(catalog);
        assert.strictEqual(after.size, baseline.size + 8);
        for (const [k, d] of baseline) assert.strictEqual(after.get(k), d, k);
    });

    it("editing only comments of catalog.yaml changes nothing", () => {
        const dir = copyImages();
        editFile(dir, "catalog.yaml", (t) => t.replace(/^# .*$/gm, "# reworded"));
        assert.deepStrictEqual(changed(baseline, digests(loadCatalog(dir))), []);
    });

    it("the stack's registry, push and immutableTags settings change no content digest", () => {
        const after = digests(baseCatalog, {
            registry: { server: "localhost:5000", namespace: "other" },
            push: false,
            immutableTags: false,
        });
        assert.deepStrictEqual(changed(baseline, after), []);
    });

    it("bumping versionTag changes every tag and no content digest", () => {
        const before = planImages(fullStack(baseCatalog), baseCatalog);
        const after = planImages(fullStack(baseCatalog, { versionTag: "v0.2.3" }), baseCatalog);
        assert.strictEqual(after.length, before.length);
        before.forEach((b, i) => {
            const a = after[i];
            assert.deepStrictEqual(a.spec, b.spec);
            assert.strictEqual(a.contentDigest, b.contentDigest, specKey(b.spec));
            assert.strictEqual(b.tag.replace(/-v0\.2\.2$/, "-v0.2.3"), a.tag);
            assert.notStrictEqual(a.reference, b.reference);
            assert.notStrictEqual(a.resourceName, b.resourceName);
        });
    });
});
