import * as assert from "assert";
import { loadCatalog } from "../../../src/images/catalog";
import { decodePulumiConfig, parseStackConfig, SECRET_PRESENT } from "../../../src/config/stackConfig";
import { committedRawConfig, committedStack, configErrorOf } from "../../support/fixtures";
import { loadDefinition } from "../../../src/config/definition";
import { FIXTURE_PYTHONS, FIXTURE_VERSION_TAG } from "../../support/trussCheckouts";

const catalog = loadCatalog();
const SOURCE = "Pulumi.test.yaml";
const SUPPORTED = "3.8, 3.9, 3.10, 3.11, 3.12, 3.13, 3.14";

/** A valid raw config (as decoded from a stack file) that each test breaks in one way. */
function valid(): Record<string, any> {
    return {
        versionTag: "v0.2.2",
        registry: { server: "docker.io", namespace: "baseten" },
        matrix: { jobTypes: ["server", "training"], pythonVersions: ["3.9", "3.10"], gpu: [false, true], liveReload: [false, true] },
        builders: { mode: "local" },
    };
}

/** Parses a config that must fail with exactly one problem and returns that problem's line. */
function oneProblem(raw: Record<string, unknown>, definition = catalog): string {
    const err = configErrorOf(() => parseStackConfig(raw, definition, SOURCE));
    assert.strictEqual(err.problems.length, 1, `expected one problem, got:\n${err.message}`);
    assert.ok(err.message.startsWith(`Invalid configuration in ${SOURCE} (1 problem)`), err.message);
    assert.ok(err.message.includes(err.problems[0]), "the message shows the problem");
    return err.problems[0];
}

/** Asserts that a problem line names the key path, the value given and what is allowed. */
function assertNames(problem: string, parts: { path: string; given?: string; allowed: string | RegExp }): void {
    assert.ok(problem.startsWith(`truss-base-images:${parts.path}: `), `does not start with the key path ${parts.path}:\n${problem}`);
    if (parts.given !== undefined) assert.ok(problem.includes(parts.given), `does not show the value given (${parts.given}):\n${problem}`);
    if (typeof parts.allowed === "string")
        assert.ok(problem.includes(parts.allowed), `does not say what is allowed (${parts.allowed}):\n${problem}`);
    else assert.match(problem, parts.allowed);
}

describe("stack configuration", () => {
    describe("valid configurations", () => {
        it("the committed Pulumi.dev.yaml: local daemon, localhost:5000, mutable tags, defaults filled in", () => {
            const config = parseStackConfig(committedRawConfig("dev"), catalog, "Pulumi.dev.yaml");
            assert.deepStrictEqual(config, {
                versionTag: "dev",
                registry: { server: "localhost:5000", namespace: "baseten" },
                hasRegistryPassword: false,
                matrix: {
                    jobTypes: ["server", "training"],
                    pythonVersions: ["3.9"],
                    gpu: [false, true],
                    liveReload: [false],
                    platforms: ["linux/amd64"],
                },
                push: true,
                builders: { mode: "local" },
                immutableTags: false,
                registryTimeoutSeconds: 60,
                parents: {},
                compression: "gzip",
                requirePinnedParents: false,
            });
        });

        it("the committed Pulumi.prod.yaml, once its password is set: Docker Hub baseten, immutable tags", () => {
            const { config } = committedStack("prod");
            assert.strictEqual(config.versionTag, FIXTURE_VERSION_TAG.today, "the checkout's TRUSS_BASE_IMAGE_VERSION_TAG");
            assert.deepStrictEqual(config.registry, { server: "docker.io", namespace: "baseten", username: "basetenservice" });
            assert.strictEqual(config.hasRegistryPassword, true);
            assert.strictEqual(config.immutableTags, true);
            assert.deepStrictEqual(config.matrix.jobTypes, ["server"]);
            assert.deepStrictEqual(config.matrix.pythonVersions, FIXTURE_PYTHONS.today, "every python the checkout supports");
            assert.deepStrictEqual(config.matrix.gpu, [false, true]);
            assert.deepStrictEqual(config.matrix.liveReload, [false]);
        });

        it("the committed Pulumi.prod.yaml without its password stops and says how to set it", () => {
            const raw = committedRawConfig("prod");
            const problem = oneProblem(raw, loadDefinition(raw, { projectDir: ".", source: SOURCE }));
            assertNames(problem, {
                path: "registryPassword",
                given: '"basetenservice"',
                allowed: "pulumi config set --secret registryPassword",
            });
        });

        it("defaults: push true, immutableTags true, no parent overrides, no password", () => {
            const config = parseStackConfig(valid(), catalog, SOURCE);
            assert.strictEqual(config.push, true);
            assert.strictEqual(config.immutableTags, true);
            assert.deepStrictEqual(config.parents, {});
            assert.strictEqual(config.hasRegistryPassword, false);
        });

        it("explicit values win over defaults; parents pin a catalog parent by digest", () => {
            const pinned = `python:3.9@sha256:${"0f".repeat(32)}`;
            const config = parseStackConfig(
                { ...valid(), push: false, immutableTags: false, parents: { "python:3.9": pinned } },
                catalog,
                SOURCE,
            );
            assert.strictEqual(config.push, false);
            assert.strictEqual(config.immutableTags, false);
            assert.deepStrictEqual(config.parents, { "python:3.9": pinned });
        });

        it("registryTimeoutSeconds: 60 by default, a whole number of seconds from 1 to 3600 otherwise", () => {
            assert.strictEqual(parseStackConfig(valid(), catalog, SOURCE).registryTimeoutSeconds, 60);
            assert.strictEqual(parseStackConfig({ ...valid(), registryTimeoutSeconds: 15 }, catalog, SOURCE).registryTimeoutSeconds, 15);
            assert.throws(
                () => parseStackConfig({ ...valid(), registryTimeoutSeconds: 0 }, catalog, SOURCE),
                /truss-base-images:registryTimeoutSeconds: .*must be at least 1 second/,
            );
            assert.throws(
                () => parseStackConfig({ ...valid(), registryTimeoutSeconds: "soon" }, catalog, SOURCE),
                /truss-base-images:registryTimeoutSeconds: .*expected a number of seconds such as 60/,
            );
        });

        it("a secret password is known to be set, and its value is never in the parsed config", () => {
            const raw = valid();
            raw.registry.username = "basetenservice";
            raw.registryPassword = SECRET_PRESENT;
            const config = parseStackConfig(raw, catalog, SOURCE);
            assert.strictEqual(config.hasRegistryPassword, true);
        });

        it("a plain-text password is refused (it must be a secret), and the message never shows it", () => {
            const raw = valid();
            raw.registry.username = "basetenservice";
            raw.registryPassword = "hunter2-do-not-leak";
            const e = oneProblem(raw);
            assert.match(
                e,
                /^truss-base-images:registryPassword: is stored in plain text; it must be a secret\. Run `pulumi config set --secret registryPassword`/,
            );
            assert.ok(!e.includes("hunter2"), e);
        });
    });

    describe("bad configuration: one error naming the key path, the value given and what is allowed", () => {
        it("an unknown python version lists the supported ones", () => {
            const raw = valid();
            raw.matrix.pythonVersions = ["3.9", "2.7"];
            assertNames(oneProblem(raw), { path: "matrix.pythonVersions[1]", given: '"2.7"', allowed: `supported: ${SUPPORTED}` });
        });

        it("a python version written as a number (unquoted in YAML) says to quote it", () => {
            const raw = valid();
            raw.matrix.pythonVersions = [3.9];
            assertNames(oneProblem(raw), { path: "matrix.pythonVersions[0]", given: "3.9", allowed: "quote it in YAML" });
        });

        it("an unknown job type lists the catalog's", () => {
            const raw = valid();
            raw.matrix.jobTypes = ["serving"];
            assertNames(oneProblem(raw), { path: "matrix.jobTypes[0]", given: '"serving"', allowed: "allowed: server, training" });
        });

        for (const key of ["jobTypes", "pythonVersions", "gpu", "liveReload"]) {
            it(`an empty matrix.${key} list`, () => {
                const raw = valid();
                raw.matrix[key] = [];
                assertNames(oneProblem(raw), { path: `matrix.${key}`, given: "[]", allowed: "must list at least one of" });
            });
        }

        it("a duplicated matrix entry, at the index of the duplicate", () => {
            const raw = valid();
            raw.matrix.pythonVersions = ["3.9", "3.10", "3.9"];
            assertNames(oneProblem(raw), { path: "matrix.pythonVersions[2]", given: '"3.9"', allowed: "each value may appear once" });
        });

        it("a duplicated gpu value", () => {
            const raw = valid();
            raw.matrix.gpu = [true, true];
            assertNames(oneProblem(raw), { path: "matrix.gpu[1]", given: "true", allowed: "each value may appear once" });
        });

        const badTags: [string, string][] = [
            ["a slash", "v0.2.2/x"],
            ["a colon", "v0.2.2:x"],
            ["a space", "v0.2 2"],
            ["a leading dash", "-x"],
            ["a leading dot", ".x"],
        ];
        for (const [what, versionTag] of badTags) {
            it(`a version tag with ${what} (${JSON.stringify(versionTag)}) makes an invalid Docker tag`, () => {
                const problem = oneProblem({ ...valid(), versionTag });
                assertNames(problem, {
                    path: "versionTag",
                    given: JSON.stringify(versionTag),
                    allowed: 'allowed: letters, digits, "_", "." and "-"',
                });
                assert.ok(problem.includes(`makes the tag "3.10-gpu-reload-${versionTag}"`), problem);
            });
        }

        it("a version tag too long for the longest tag of the stack says how long it may be", () => {
            const longest = "v" + "1".repeat(111); // 3.10-gpu-reload- is 16 characters: 16 + 112 = 128
            assert.strictEqual(parseStackConfig({ ...valid(), versionTag: longest }, catalog, SOURCE).versionTag, longest);
            const problem = oneProblem({ ...valid(), versionTag: longest + "1" });
            assertNames(problem, { path: "versionTag", given: longest + "1", allowed: "at most 112 here" });
        });

        it("an empty version tag", () => {
            assertNames(oneProblem({ ...valid(), versionTag: "" }), { path: "versionTag", given: '""', allowed: "such as v0.2.2" });
        });

        it("a missing version tag", () => {
            const raw = valid();
            delete raw.versionTag;
            assertNames(oneProblem(raw), { path: "versionTag", allowed: /required/ });
        });

        it("a username without a password", () => {
            const raw = valid();
            raw.registry.username = "basetenservice";
            assertNames(oneProblem(raw), {
                path: "registryPassword",
                given: '"basetenservice"',
                allowed: "pulumi config set --secret registryPassword",
            });
        });

        it("a username with an empty password", () => {
            const raw = valid();
            raw.registry.username = "basetenservice";
            raw.registryPassword = "";
            assertNames(oneProblem(raw), { path: "registryPassword", allowed: "is required because registry.username is set" });
        });

        it("a registry server with a scheme", () => {
            const raw = valid();
            raw.registry.server = "https://docker.io";
            assertNames(oneProblem(raw), { path: "registry.server", given: '"https://docker.io"', allowed: "without a scheme or path" });
        });

        it("an unknown builder mode lists the modes there are", () => {
            assertNames(oneProblem({ ...valid(), builders: { mode: "kubernetes" } }), {
                path: "builders.mode",
                given: '"kubernetes"',
                allowed: 'allowed: "local"',
            });
        });

        it("a builders object without a mode", () => {
            assertNames(oneProblem({ ...valid(), builders: {} }), { path: "builders.mode", allowed: /required.*allowed: "local"/ });
        });

        it("a misspelt top-level key suggests the right one", () => {
            const raw = valid();
            raw.matrx = raw.matrix;
            delete raw.matrix;
            const err = configErrorOf(() => parseStackConfig(raw, catalog, SOURCE));
            const line = err.problems.find((p) => p.startsWith("truss-base-images:matrx: "));
            assert.ok(line, err.message);
            assert.match(
                line,
                /unknown key \(did you mean "matrix"\?\); allowed keys here: versionTag, truss, registry, registryPassword, matrix, push, builders, immutableTags, compression, registryTimeoutSeconds, parents, requirePinnedParents/,
            );
            // The key it meant is then missing, and says so.
            assert.deepStrictEqual(
                err.problems.filter((p) => p !== line).map((p) => p.split(": ")[0]),
                ["truss-base-images:matrix"],
            );
        });

        it("a misspelt nested key suggests the right one", () => {
            const raw = valid();
            raw.matrix.pythonVersion = ["3.9"];
            assertNames(oneProblem(raw), {
                path: "matrix.pythonVersion",
                allowed: 'unknown key (did you mean "pythonVersions"?); allowed keys here: jobTypes, pythonVersions, gpu, liveReload',
            });
        });

        it("an unknown parent override suggests the parent it probably meant", () => {
            const problem = oneProblem({ ...valid(), parents: { "python:3.7": "python:3.7" } });
            assertNames(problem, {
                path: "parents.python:3.7",
                given: '"python:3.7"',
                allowed: /did you mean "python:3\.\d+"\?.*parents in use: .*python:3\.9/,
            });
        });

        it("a parent override that is not an image reference", () => {
            assertNames(oneProblem({ ...valid(), parents: { "python:3.9": "not a reference" } }), {
                path: "parents.python:3.9",
                given: '"not a reference"',
                allowed: "name[:tag][@sha256:digest]",
            });
        });

        describe("wrong types", () => {
            it("a string for a boolean", () => {
                assertNames(oneProblem({ ...valid(), push: "yes" }), {
                    path: "push",
                    given: 'a string "yes"',
                    allowed: "expected true or false",
                });
            });

            it("a string for a boolean inside the matrix", () => {
                const raw = valid();
                raw.matrix.gpu = ["true"];
                assertNames(oneProblem(raw), { path: "matrix.gpu[0]", given: '"true"', allowed: "expected true or false" });
            });

            it("a number for versionTag", () => {
                assertNames(oneProblem({ ...valid(), versionTag: 2 }), {
                    path: "versionTag",
                    given: "a number 2",
                    allowed: "expected a string such as v0.2.2",
                });
            });

            it("an object for a list", () => {
                const raw = valid();
                raw.matrix.jobTypes = { server: true };
                assertNames(oneProblem(raw), {
                    path: "matrix.jobTypes",
                    given: 'an object {"server":true}',
                    allowed: "expected a list of the job types server, training",
                });
            });

            it("a string for an object", () => {
                assertNames(oneProblem({ ...valid(), registry: "docker.io" }), {
                    path: "registry",
                    given: 'a string "docker.io"',
                    allowed: "expected an object { server, namespace, username?, tokenRealmHosts? }",
                });
            });

            it("a list for parents", () => {
                assertNames(oneProblem({ ...valid(), parents: ["python:3.9"] }), {
                    path: "parents",
                    given: "a list",
                    allowed: "expected an object mapping a parent image",
                });
            });
        });

        it("several mistakes at once are all reported in one message", () => {
            const raw = valid();
            raw.matrix.pythonVersions = ["3.9", "2.7"];
            raw.matrix.liveReload = [];
            raw.push = "yes";
            raw.builders = { mode: "k8s" };
            raw.versionTag = "v0.2.2/x";
            raw.registry.username = "basetenservice";
            raw.parents = { "python:3.7": "python:3.7" };
            raw.imutableTags = false;
            const err = configErrorOf(() => parseStackConfig(raw, catalog, SOURCE));
            const paths = err.problems.map((p) => p.split(": ")[0].replace("truss-base-images:", "")).sort();
            assert.deepStrictEqual(
                paths,
                [
                    "builders.mode",
                    "imutableTags",
                    "matrix.liveReload",
                    "matrix.pythonVersions[1]",
                    "parents.python:3.7",
                    "push",
                    "registryPassword",
                    "versionTag",
                ],
                err.message,
            );
            assert.ok(err.message.startsWith(`Invalid configuration in ${SOURCE} (8 problems)`), err.message);
            for (const p of err.problems) assert.ok(err.message.includes(`  - ${p}`), p);
            assert.ok(
                err.problems.find((p) => p.startsWith("truss-base-images:imutableTags"))?.includes('did you mean "immutableTags"'),
                err.message,
            );
        });
    });

    describe("decodePulumiConfig (the flat strings Pulumi hands the program)", () => {
        it("decodes JSON objects, lists and booleans of this project's keys and ignores other namespaces", () => {
            const raw = decodePulumiConfig({
                "truss-base-images:registry": '{"server":"docker.io","namespace":"baseten"}',
                "truss-base-images:matrix": '{"jobTypes":["server"],"pythonVersions":["3.10"],"gpu":[true],"liveReload":[false]}',
                "truss-base-images:push": "false",
                "truss-base-images:immutableTags": "true",
                "truss-base-images:builders": '{"mode":"local"}',
                "truss-base-images:versionTag": "v0.2.2",
                "aws:region": "us-west-2",
                "docker:host": "ssh://builder",
            });
            assert.deepStrictEqual(raw, {
                registry: { server: "docker.io", namespace: "baseten" },
                matrix: { jobTypes: ["server"], pythonVersions: ["3.10"], gpu: [true], liveReload: [false] },
                push: false,
                immutableTags: true,
                builders: { mode: "local" },
                versionTag: "v0.2.2",
            });
            const config = parseStackConfig(raw, catalog, "pulumi config");
            assert.strictEqual(config.push, false);
            assert.deepStrictEqual(config.matrix.pythonVersions, ["3.10"]);
        });

        it("versionTag and registryPassword stay strings even when they look like JSON", () => {
            const raw = decodePulumiConfig({
                "truss-base-images:versionTag": "2",
                "truss-base-images:registryPassword": "123",
            });
            assert.deepStrictEqual(raw, { versionTag: "2", registryPassword: "123" });
        });

        it("a value that is not JSON stays a string, which validation then reports with its key", () => {
            const raw = decodePulumiConfig({ "truss-base-images:push": "yes" });
            assert.deepStrictEqual(raw, { push: "yes" });
            assertNames(oneProblem({ ...valid(), ...raw }), { path: "push", given: 'a string "yes"', allowed: "expected true or false" });
        });

        it("the committed dev stack through Pulumi's flat config parses like the stack file itself", () => {
            const fromFile = committedRawConfig("dev");
            const flat: Record<string, string> = {};
            for (const [k, v] of Object.entries(fromFile)) flat[`truss-base-images:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
            assert.deepStrictEqual(
                parseStackConfig(decodePulumiConfig(flat), catalog, "pulumi config"),
                parseStackConfig(fromFile, catalog, "Pulumi.dev.yaml"),
            );
        });
    });
});
