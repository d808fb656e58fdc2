// The promise end to end, on real parts: images built by the real Docker daemon from the real
// Dockerfiles, pushed to a real registry; then the same publish plan the program uses, and the
// RegistryTag provider's own create, across a version bump and a content change. The dev stack's
// matrix on python 3.11: CPU images on the 3.11 stand-in with real pip installs (the content
// change installs one more package for real), GPU images on the stub of the CUDA parent.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { catalogParent, loadCatalog } from "../../src/images/catalog";
import { parseStackConfig, SECRET_PRESENT, StackConfig } from "../../src/config/stackConfig";
import { writeContext } from "../../src/images/context";
import { CLI_PASSWORD_FROM, planPublish, PublishPlan, registryClientFor } from "../../src/publish/publishPlan";
import { readStackFile } from "../../src/config/stackFile";
import { hosted } from "../support/dynamicProviders";
import { stagingReference } from "../../src/images/naming";
import { copyImages, editFile } from "../support/fixtures";
import { buildCommandArgs, docker, ensureDockerDaemon } from "../support/docker";
import { startRegistry, TestRegistry } from "../support/registry";
import { rawManifest } from "../support/registryImages";
import { runInImage } from "../support/realBuilds";
import { ensureTestParents, testParentOverrides } from "../support/testParents";
import { stubParentName } from "../support/stubParents";

const PROJECT_DIR = path.resolve(__dirname, "..", "..");

/** The python of the stand-in the dev stack's CPU images build on here. */
const PYTHON = "3.11";

describe("integration: publishing across versions (real daemon, real registry; CPU on the stand-in with real pip, GPU on the stub parent)", function () {
    this.timeout(300_000);
    let registry: TestRegistry;
    const contexts = fs.mkdtempSync(path.join(os.tmpdir(), "truss-lifecycle-"));
    const built: string[] = [];

    before(async () => {
        await ensureDockerDaemon();
        await ensureTestParents(loadCatalog(), [PYTHON]);
        registry = await startRegistry();
    });
    after(async () => {
        await registry?.stop();
        if (built.length > 0) await docker(["rmi", "-f", ...built], { allowFailure: true });
        fs.rmSync(contexts, { recursive: true, force: true });
    });

    /** The dev stack file on python 3.11 at a version, publishing to the test registry, from an images folder. */
    function config(versionTag: string, imagesDir?: string) {
        const catalog = loadCatalog(imagesDir);
        const file = readStackFile(PROJECT_DIR, "dev");
        const raw = {
            ...file.config,
            versionTag,
            registry: { server: registry.host, namespace: "lifecycle" },
            matrix: { ...(file.config.matrix as Record<string, unknown>), pythonVersions: [PYTHON] },
            parents: testParentOverrides(catalog, [PYTHON]),
            registryPassword: SECRET_PRESENT,
        };
        return { config: parseStackConfig(raw, catalog, file.source), catalog };
    }

    async function plan(c: { config: StackConfig; catalog: ReturnType<typeof loadCatalog> }): Promise<PublishPlan> {
        return planPublish(c.config, c.catalog, registryClientFor(c.config, undefined, { passwordFrom: CLI_PASSWORD_FROM }));
    }

    /**
     * What `pulumi up` does for each action, by the same means: the daemon builds and pushes to
     * the staging tag, and the RegistryTag provider writes every published tag after checking it.
     */
    async function publish(p: PublishPlan, immutable = false): Promise<void> {
        for (const image of p.images) {
            let source: { source?: string; sourceDigest?: string } = {};
            if (image.action === "build" || image.action === "conflict") {
                const dir = writeContext(contexts, image.staged);
                const staging = stagingReference(image.repository, image.contentDigest);
                await docker(buildCommandArgs(image.staged, dir, staging));
                built.push(staging);
                await docker(["push", staging]);
                source = { source: staging };
            } else if (image.action === "retag") {
                source = { source: image.source, sourceDigest: image.digest };
            }
            await hosted("RegistryTag").create({
                server: registry.host,
                repository: image.repository,
                tag: image.tag,
                contentDigest: image.contentDigest,
                ...source,
                immutable,
            });
        }
    }

    const actions = (p: PublishPlan) => Object.fromEntries(p.images.map((i) => [i.tag, i.action]));

    it("builds and pushes everything once, re-tags on a version bump without building, and rebuilds only what changed, the rebuilt image installing its new requirement for real", async () => {
        const v1 = config("v1.0.0");
        const first = await plan(v1);
        assert.equal(first.images.length, 4);
        assert.ok(
            first.images.every((i) => i.action === "build"),
            "an empty registry: everything is built",
        );
        await publish(first);

        const again = await plan(v1);
        assert.ok(
            again.images.every((i) => i.action === "unchanged"),
            `after publishing, nothing to do: ${JSON.stringify(actions(again))}`,
        );

        const v2 = config("v1.0.1");
        const bump = await plan(v2);
        assert.ok(
            bump.images.every((i) => i.action === "retag"),
            `a version bump without content change re-tags: ${JSON.stringify(actions(bump))}`,
        );
        const buildsBefore = built.length;
        await publish(bump);
        assert.equal(built.length, buildsBefore, "no image was built for the bump");
        for (const image of bump.images) {
            const repo = image.repository.slice(registry.host.length + 1);
            const copied = await rawManifest({ url: registry.url }, repo, image.tag);
            const source = await rawManifest({ url: registry.url }, repo, image.source!.slice(image.source!.lastIndexOf(":") + 1));
            assert.ok(copied && source);
            assert.ok(copied.bytes.equals(source.bytes), `${image.reference}: the re-tagged manifest is byte-identical to its source`);
        }
        assert.ok((await plan(v2)).images.every((i) => i.action === "unchanged"));

        // The training requirements change, and the version is bumped: training builds, server re-tags.
        const images = copyImages();
        editFile(images, "requirements/training.txt", (t) => `${t}tqdm==4.66.1\n`);
        const v3 = config("v1.0.2", images);
        const change = await plan(v3);
        for (const image of change.images) {
            assert.equal(image.action, image.spec.jobType === "training" ? "build" : "retag", image.reference);
        }
        await publish(change);
        assert.ok((await plan(v3)).images.every((i) => i.action === "unchanged"));
        // The rebuilt CPU training image installed the new requirement for real.
        const training = change.images.find((i) => i.spec.jobType === "training" && i.spec.accelerator === "cpu")!;
        const staging = stagingReference(training.repository, training.contentDigest);
        const tqdm = await runInImage(staging, "python3", ["-c", "import tqdm; print(tqdm.__version__)"]);
        assert.equal(tqdm.trim(), "4.66.1");
    });

    it("a tag overwritten with other content is a conflict, refused under immutableTags", async () => {
        const v = config("v9.0.0");
        await publish(await plan(v));
        // Someone pushes other content under one of the tags: here, the GPU stub parent, with no labels of ours.
        const victim = `${registry.host}/lifecycle/truss-server-base:3.11-v9.0.0`;
        await docker(["tag", stubParentName(catalogParent(loadCatalog(), PYTHON, "gpu")), victim]);
        built.push(victim);
        await docker(["push", victim]);
        const immutable = { ...v, config: { ...v.config, immutableTags: true } };
        const p = await plan(immutable);
        assert.equal(p.images.find((i) => i.reference === victim)?.action, "conflict");
        assert.ok(p.conflicts);
        assert.match(
            p.conflicts!.message,
            /truss-server-base:3\.11-v9\.0\.0: the registry holds an image without a truss\.base\.content-digest label.*this stack would publish content digest sha256:[0-9a-f]{64}/,
        );
        assert.equal(p.images.filter((i) => i.action === "conflict").length, 1, "only the overwritten tag");
        assert.match(p.conflicts!.message, /Bump versionTag/);
    });
});
