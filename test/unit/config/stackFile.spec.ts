import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { SECRET_PRESENT } from "../../../src/config/stackConfig";
import { UserError } from "../../../src/errors";
import { readStackFile } from "../../../src/config/stackFile";
import { PROJECT_DIR, tempDir } from "../../support/fixtures";

/** A project folder holding the given stack files. */
function project(files: Record<string, string>): string {
    const dir = tempDir("project");
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    return dir;
}

function userErrorOf(f: () => unknown): string {
    try {
        f();
    } catch (e) {
        assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
        return e.message;
    }
    throw new assert.AssertionError({ message: "expected a UserError" });
}

describe("reading Pulumi.<stack>.yaml without the Pulumi CLI", () => {
    it("reads the committed dev stack: this project's keys without their namespace", () => {
        const dev = readStackFile(PROJECT_DIR, "dev");
        assert.strictEqual(dev.source, "Pulumi.dev.yaml");
        assert.deepStrictEqual(dev.config, {
            versionTag: "dev",
            registry: { server: "localhost:5000", namespace: "baseten" },
            matrix: { jobTypes: ["server", "training"], pythonVersions: ["3.9"], gpu: [false, true], liveReload: [false] },
            push: true,
            builders: { mode: "local" },
            immutableTags: false,
        });
        assert.deepStrictEqual(dev.other, {});
    });

    it("reads the committed prod stack: Docker Hub, basetenservice, the Truss checkout at ../truss defining tag and pythons, both platforms with eStargz", () => {
        const prod = readStackFile(PROJECT_DIR, "prod");
        assert.strictEqual(prod.source, "Pulumi.prod.yaml");
        assert.deepStrictEqual(prod.config.truss, { checkout: "../truss" });
        assert.strictEqual(prod.config.versionTag, undefined, "the version tag is the checkout's");
        assert.deepStrictEqual(prod.config.registry, { server: "docker.io", namespace: "baseten", username: "basetenservice" });
        assert.deepStrictEqual(prod.config.matrix, {
            jobTypes: ["server"],
            gpu: [false, true],
            liveReload: [false],
            platforms: ["linux/amd64", "linux/arm64"],
        });
        assert.strictEqual(prod.config.compression, "estargz");
    });

    it("secure: values become SECRET_PRESENT; keys of other namespaces are kept apart", () => {
        const dir = project({
            "Pulumi.staging.yaml": [
                "config:",
                "  aws:region: us-west-2",
                '  truss-base-images:versionTag: "1.10"',
                "  truss-base-images:registryPassword:",
                "    secure: v1:c2VjcmV0:AAAAAAAAAAAAAAAAAAAAAA==",
                '  truss-base-images:matrix: \'{"jobTypes":["server"],"pythonVersions":["3.10"],"gpu":[true],"liveReload":[false]}\'',
                "",
            ].join("\n"),
        });
        const stack = readStackFile(dir, "staging");
        assert.strictEqual(stack.config.registryPassword, SECRET_PRESENT);
        assert.ok(!JSON.stringify(stack).includes("c2VjcmV0"), "the encrypted value is not carried along");
        assert.strictEqual(stack.config.versionTag, "1.10", "versionTag stays the string written");
        assert.deepStrictEqual(stack.config.matrix, { jobTypes: ["server"], pythonVersions: ["3.10"], gpu: [true], liveReload: [false] });
        assert.deepStrictEqual(stack.other, { "aws:region": "us-west-2" });
    });

    it("an unknown stack names the stacks there are", () => {
        const message = userErrorOf(() => readStackFile(PROJECT_DIR, "staging"));
        assert.ok(message.includes("No stack file Pulumi.staging.yaml"), message);
        assert.match(message, /stacks here: dev, prod\.$/);
    });

    it("an unknown stack in a folder without stack files says there are none", () => {
        assert.match(
            userErrorOf(() => readStackFile(project({}), "dev")),
            /stacks here: none\./,
        );
    });

    it("a stack name that is not a name (a path) is refused before any file is read", () => {
        assert.match(
            userErrorOf(() => readStackFile(PROJECT_DIR, "../prod")),
            /Stack name "\.\.\/prod" is not valid/,
        );
    });

    it("a stack file that is not YAML names the file", () => {
        const dir = project({ "Pulumi.broken.yaml": "config:\n  truss-base-images:matrix: [oops\n" });
        assert.match(
            userErrorOf(() => readStackFile(dir, "broken")),
            /^Pulumi\.broken\.yaml is not valid YAML/,
        );
    });

    it("a stack file without config has no keys (parseStackConfig then reports the required ones)", () => {
        const dir = project({ "Pulumi.empty.yaml": "# nothing yet\n" });
        assert.deepStrictEqual(readStackFile(dir, "empty").config, {});
    });

    it("a config that is not a map is refused", () => {
        const dir = project({ "Pulumi.list.yaml": "config:\n  - a\n" });
        assert.match(
            userErrorOf(() => readStackFile(dir, "list")),
            /"config" must be a map/,
        );
    });
});
