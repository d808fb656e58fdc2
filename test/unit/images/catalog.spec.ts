import * as assert from "assert";
import * as fc from "fast-check";
import * as fs from "fs";
import * as path from "path";
import { allCatalogParents, catalogParent, loadCatalog } from "../../../src/images/catalog";
import { comparePython } from "../../../src/images/dimensions";
import { CatalogError } from "../../../src/errors";
import { copyImages, editFile, replaceOnce, REPO_IMAGES_DIR } from "../../support/fixtures";

/** Loads a catalog that must fail and returns its message. */
function catalogErrorOf(dir: string): string {
    assert.throws(() => loadCatalog(dir), CatalogError);
    try {
        loadCatalog(dir);
    } catch (e) {
        return (e as Error).message;
    }
    throw new Error("unreachable");
}

describe("the python catalog (images/catalog.yaml)", () => {
    it("the committed catalog declares server and training, pythons 3.8 to 3.14, linux/amd64", () => {
        const catalog = loadCatalog();
        assert.deepStrictEqual([...catalog.jobTypes.keys()], ["server", "training"]);
        assert.deepStrictEqual([...catalog.pythonVersions.keys()], ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14"]);
        assert.strictEqual(catalog.platform, "linux/amd64");
        assert.deepStrictEqual(catalog.pythonVersions.get("3.9")?.gpuAptPackages, ["python3.9-distutils"]);
        assert.deepStrictEqual(catalog.pythonVersions.get("3.12")?.gpuAptPackages, [], "no python3.12-distutils exists");
        for (const [rel, bytes] of catalog.files) {
            assert.ok(bytes.equals(fs.readFileSync(path.join(REPO_IMAGES_DIR, rel))), `${rel} was not read as it is on disk`);
        }
    });

    it("orders python versions numerically: 3.9 before 3.10, whatever order the file lists them in", () => {
        const dir = copyImages();
        editFile(dir, "catalog.yaml", (text) =>
            text.replace(/^pythonVersions:[\s\S]*$/m, 'pythonVersions:\n  "3.10": {}\n  "3.14": {}\n  "3.9": {}\n  "3.8": {}\n'),
        );
        assert.deepStrictEqual([...loadCatalog(dir).pythonVersions.keys()], ["3.8", "3.9", "3.10", "3.14"]);
        assert.deepStrictEqual(["3.10", "3.9", "3.14", "3.8", "3.11"].sort(comparePython), ["3.8", "3.9", "3.10", "3.11", "3.14"]);
    });

    it("orders any python versions the catalog accepts (3.N) by their minor number, as a total order", () => {
        const version = fc.nat({ max: 200 }).map((n) => `3.${n}`);
        fc.assert(
            fc.property(fc.array(version), (versions) => {
                const sorted = [...versions].sort(comparePython);
                const byMinor = [...versions].sort((a, b) => Number(a.slice(2)) - Number(b.slice(2)));
                assert.deepStrictEqual(sorted, byMinor);
            }),
        );
        fc.assert(
            fc.property(version, version, (a, b) => {
                assert.strictEqual(Math.sign(comparePython(a, b)), -Math.sign(comparePython(b, a)) || 0);
                assert.strictEqual(comparePython(a, b) === 0, a === b);
            }),
        );
    });

    it("parents: python:<X> for cpu, the CUDA image for gpu, cpuParent where a version sets one", () => {
        const catalog = loadCatalog();
        assert.strictEqual(catalogParent(catalog, "3.9", "cpu"), "python:3.9");
        assert.strictEqual(catalogParent(catalog, "3.10", "cpu"), "python:3.10");
        assert.strictEqual(catalogParent(catalog, "3.9", "gpu"), "nvidia/cuda:12.8.1-base-ubuntu22.04");
        assert.ok(allCatalogParents(catalog).includes("python:3.14"));

        const dir = copyImages();
        replaceOnce(dir, "catalog.yaml", "gpuAptPackages: [python3.9-distutils]", "gpuAptPackages: [python3.9-distutils]\n    cpuParent: python:3.9-slim-bookworm");
        const edited = loadCatalog(dir);
        assert.strictEqual(catalogParent(edited, "3.9", "cpu"), "python:3.9-slim-bookworm");
        assert.strictEqual(catalogParent(edited, "3.9", "gpu"), "nvidia/cuda:12.8.1-base-ubuntu22.04", "cpuParent is for cpu only");
        assert.strictEqual(catalogParent(edited, "3.10", "cpu"), "python:3.10");
    });

    describe("errors name the file and what is wrong", () => {
        it("a file the catalog names is missing", () => {
            const dir = copyImages();
            fs.rmSync(path.join(dir, "requirements", "training.txt"));
            const message = catalogErrorOf(dir);
            assert.match(message, /names files that do not exist/);
            assert.ok(message.includes("requirements/training.txt"), message);
            assert.ok(message.includes(dir), message);
        });

        it("catalog.yaml itself is missing", () => {
            const dir = copyImages();
            fs.rmSync(path.join(dir, "catalog.yaml"));
            assert.match(catalogErrorOf(dir), /Cannot read the image catalog .*catalog\.yaml/);
        });

        it("bad YAML", () => {
            const dir = copyImages();
            replaceOnce(dir, "catalog.yaml", "platform: linux/amd64", "platform: [linux/amd64");
            assert.match(catalogErrorOf(dir), /catalog\.yaml is not valid YAML: .*line \d+/);
        });

        it("a python version listed twice is a YAML error, not a silent overwrite", () => {
            const dir = copyImages();
            replaceOnce(dir, "catalog.yaml", '"3.14": {}', '"3.14": {}\n  "3.9": {}');
            assert.match(catalogErrorOf(dir), /not valid YAML: Map keys must be unique/);
        });

        it("an unknown top-level key, with the key it probably meant", () => {
            const dir = copyImages();
            replaceOnce(dir, "catalog.yaml", "platform: linux/amd64", "platfrom: linux/amd64");
            const message = catalogErrorOf(dir);
            assert.match(message, /- platfrom: unknown key \(did you mean "platform"\?\)/);
            assert.match(message, /- platform: required/);
        });

        it("an unknown key in one python's entry, by its path", () => {
            const dir = copyImages();
            replaceOnce(dir, "catalog.yaml", "gpuAptPackages: [python3.9-distutils]", "gpuAptPackage: [python3.9-distutils]");
            assert.match(
                catalogErrorOf(dir),
                /- pythonVersions\.3\.9\.gpuAptPackage: unknown key \(did you mean "gpuAptPackages"\?\); allowed keys here: gpuAptPackages, getPipUrl, cpuParent/,
            );
        });

        it("a python version that is not written like 3.9", () => {
            const dir = copyImages();
            replaceOnce(dir, "catalog.yaml", '"3.14": {}', '"3.14": {}\n  "python3.15": {}');
            assert.match(catalogErrorOf(dir), /- pythonVersions\.python3\.15: a python version is written like 3\.9, given the key "python3\.15"/);
        });

        it("an unquoted 3.10, which YAML reads as the number 3.1", () => {
            const dir = copyImages();
            replaceOnce(dir, "catalog.yaml", '"3.10":', "3.10:");
            const message = catalogErrorOf(dir);
            assert.match(message, /python versions must be quoted strings, given 3\.10 unquoted/);
            assert.match(message, /write them like "3\.10"/);
        });

        it("a file path outside the images folder", () => {
            const dir = copyImages();
            replaceOnce(dir, "catalog.yaml", "requirements: requirements/training.txt", "requirements: ../training.txt");
            assert.match(catalogErrorOf(dir), /- jobTypes\.training\.requirements: must be a path inside the images folder, given "\.\.\/training\.txt"/);
        });

        it("no python versions at all", () => {
            const dir = copyImages();
            editFile(dir, "catalog.yaml", (text) => text.replace(/^pythonVersions:[\s\S]*$/m, "pythonVersions: {}\n"));
            assert.match(catalogErrorOf(dir), /must declare at least one job type and one python version/);
        });
    });
});
