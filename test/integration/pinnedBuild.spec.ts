// A pinned parent, built for real: the python:3.11 stand-in is pushed to a loopback registry,
// `npm run parents -- --update` pins it, and the Docker daemon builds a CPU image FROM
// `<parent>@sha256:...` with a real pip install, also after the tag has moved upstream to other
// content (the python:3.13 stand-in).
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { runParents } from "../../src/cli/parents";
import { allCatalogParents, loadCatalog } from "../../src/images/catalog";
import { parseStackConfig } from "../../src/config/stackConfig";
import { writeContext } from "../../src/images/context";
import { readParentLock } from "../../src/images/parentLock";
import { planImages } from "../../src/publish/plannedImages";
import { buildCommandArgs, docker, ensureDockerDaemon } from "../support/docker";
import { standIn } from "../support/standIns";
import { runInImage } from "../support/realBuilds";
import { startRegistry, TestRegistry } from "../support/registry";
import { copyImages, tempDir } from "../support/fixtures";

/** The layer digests of a local image, bottom first. */
async function layers(ref: string): Promise<string[]> {
    const out = await docker(["image", "inspect", "--format", "{{json .RootFS.Layers}}", ref]);
    return JSON.parse(out.stdout) as string[];
}

describe("a build FROM a pinned parent (stand-in parents, real pip, real Docker daemon, loopback registry)", function () {
    this.timeout(600_000);
    let registry: TestRegistry;
    const made: string[] = [];
    before(async () => {
        await ensureDockerDaemon();
        await Promise.all([standIn("3.11"), standIn("3.13")]);
        registry = await startRegistry();
    });
    after(async () => {
        for (const ref of made) await docker(["image", "rm", "--force", ref], { allowFailure: true });
        await registry?.stop();
    });

    it("builds FROM the parent's pinned digest, also after the tag moved upstream to other content, and pip installs on it", async () => {
        const parent = `${registry.host}/library/python:3.11`;
        made.push(parent);
        await docker(["tag", await standIn("3.11"), parent]);
        await docker(["push", parent]);

        // Every parent of the catalog goes to the one pushed image: the command then asks only the loopback registry.
        const imagesDir = copyImages();
        const catalog = loadCatalog(imagesDir);
        const overrides = Object.fromEntries(allCatalogParents(catalog).map((ref) => [ref, parent]));
        const raw = {
            versionTag: "v1",
            registry: { server: registry.host, namespace: "pinned" },
            matrix: { jobTypes: ["training"], pythonVersions: ["3.11"], gpu: [false], liveReload: [false] },
            builders: { mode: "local" },
            parents: overrides,
            requirePinnedParents: true,
        };
        const projectDir = tempDir("project");
        const entries = Object.fromEntries(Object.entries(raw).map(([k, v]) => [`truss-base-images:${k}`, v]));
        fs.writeFileSync(path.join(projectDir, "Pulumi.t.yaml"), YAML.stringify({ config: entries }));
        let output = "";
        const code = await runParents(["--stack", "t", "--update"], {
            projectDir,
            imagesDir,
            env: {},
            stdout: (t) => (output += t),
            stderr: (t) => (output += t),
        });
        assert.equal(code, 0, output);
        const digest = readParentLock(imagesDir).pins.get(parent)!;
        assert.match(digest, /^sha256:[0-9a-f]{64}$/);

        const [image] = planImages(parseStackConfig(raw, catalog, "test"), catalog);
        assert.equal(image.staged.parent, `${parent}@${digest}`);
        const pinnedParentLayers = await layers(parent);

        // Upstream moves the tag to other content, and the local tag goes: only the pinned digest
        // names the old parent now.
        await docker(["tag", await standIn("3.13"), parent]);
        await docker(["push", parent]);
        await docker(["image", "rm", parent]);

        const built = `${registry.host}/pinned/truss-training-base:3.11-v1`;
        made.push(built, `${parent}@${digest}`);
        const dir = writeContext(tempDir("contexts"), image.staged);
        await docker(buildCommandArgs(image.staged, dir, built));
        const builtLayers = await layers(built);
        assert.deepEqual(builtLayers.slice(0, pinnedParentLayers.length), pinnedParentLayers, "built on the pinned parent's layers");
        const movedLayers = await layers(await standIn("3.13"));
        assert.notDeepEqual(builtLayers.slice(0, movedLayers.length), movedLayers, "not on what the tag points to now");
        const pulled = await docker(["image", "inspect", "--format", "{{json .RepoDigests}}", `${parent}@${digest}`]);
        assert.ok((JSON.parse(pulled.stdout) as string[]).includes(`${registry.host}/library/python@${digest}`), pulled.stdout);

        // The pinned parent's python, with the training requirements installed on it by pip.
        const probe = await runInImage(built, "python3", [
            "-c",
            "import platform, yaml; print(platform.python_version(), yaml.__version__)",
        ]);
        assert.match(probe.trim(), /^3\.11\.\d+ 6\.0\.1$/);
    });
});
