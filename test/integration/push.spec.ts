// Integration: the dev stack's images, built by the Docker daemon and pushed to a real registry
// (Debian's docker-registry on loopback), then read back the way the registry check reads them:
// the Registry HTTP API v2 (tags list, manifest, config blob with the labels). The dev stack's
// matrix, on python 3.11: its CPU images build on the 3.11 stand-in with real pip installs, its
// GPU images on the stub of the CUDA parent (test/support/testParents.ts).
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadCatalog } from "../../src/images/catalog";
import { parseStackConfig, SECRET_PRESENT, StackConfig } from "../../src/config/stackConfig";
import { writeContext } from "../../src/images/context";
import { LABELS } from "../../src/images/labels";
import { PlannedImage, planImages } from "../../src/publish/plannedImages";
import { readStackFile } from "../../src/config/stackFile";
import { buildCommandArgs, docker, ensureDockerDaemon } from "../support/docker";
import { startRegistry, TestRegistry } from "../support/registry";
import { ensureTestParents, testParentOverrides } from "../support/testParents";

const PROJECT_DIR = path.resolve(__dirname, "..", "..");
const MANIFEST_TYPES = {
    dockerV2: "application/vnd.docker.distribution.manifest.v2+json",
    oci: "application/vnd.oci.image.manifest.v1+json",
    dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
    ociIndex: "application/vnd.oci.image.index.v1+json",
};

interface Manifest {
    mediaType?: string;
    config: { mediaType: string; digest: string };
    layers: unknown[];
}

interface ImageConfig {
    os: string;
    architecture: string;
    config: { Labels?: Record<string, string>; Env?: string[] };
}

/** The python of the stand-in the dev stack's CPU images build on here. */
const PYTHON = "3.11";

/** The dev stack file on python 3.11, with the registry moved to `server`. */
function devConfig(server: string): StackConfig {
    const catalog = loadCatalog();
    const stackFile = readStackFile(PROJECT_DIR, "dev");
    const registry = { ...(stackFile.config.registry as Record<string, unknown>), server };
    const matrix = { ...(stackFile.config.matrix as Record<string, unknown>), pythonVersions: [PYTHON] };
    const raw = { ...stackFile.config, registry, matrix, parents: testParentOverrides(catalog, [PYTHON]) };
    if ((registry as { username?: string }).username !== undefined) Object.assign(raw, { registryPassword: SECRET_PRESENT });
    return parseStackConfig(raw, catalog, stackFile.source);
}

/** `127.0.0.1:5000/baseten/truss-server-base` -> `baseten/truss-server-base` */
function repositoryPath(image: PlannedImage, registry: TestRegistry): string {
    assert.ok(image.repository.startsWith(`${registry.host}/`), `${image.repository} is not on ${registry.host}`);
    return image.repository.slice(registry.host.length + 1);
}

async function getJson<T>(url: string, accept?: string): Promise<{ body: T; headers: Headers }> {
    const res = await fetch(url, { headers: accept ? { Accept: accept } : {}, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text}`);
    return { body: JSON.parse(text) as T, headers: res.headers };
}

describe("integration: the dev stack's images on python 3.11 pushed to a real registry (CPU built on the stand-in with real pip, GPU on the stub parent)", function () {
    const catalog = loadCatalog();
    // Tags and content digests do not depend on the registry server: this plan names the tests.
    const named = planImages(devConfig("localhost:5000"), catalog);
    let registry: TestRegistry | undefined;
    let plan: PlannedImage[] = [];
    let root = "";

    before(async function () {
        this.timeout(30 * 60_000);
        await ensureDockerDaemon();
        await ensureTestParents(catalog, [PYTHON]);
        registry = await startRegistry();
        plan = planImages(devConfig(registry.host), catalog);
        root = fs.mkdtempSync(path.join(os.tmpdir(), "truss-it-push-"));
        const started = Date.now();
        await Promise.all(
            plan.map((image) => {
                const args = buildCommandArgs(image.staged, writeContext(root, image.staged), image.reference);
                return docker(["build", "--force-rm", ...args.slice(1)]);
            }),
        );
        const builtAt = Date.now();
        for (const image of plan) await docker(["push", image.reference]);
        console.log(
            `      built ${plan.length} images in ${((builtAt - started) / 1000).toFixed(1)} s, ` +
                `pushed them in ${((Date.now() - builtAt) / 1000).toFixed(1)} s`,
        );
    });

    after(async function () {
        this.timeout(5 * 60_000);
        if (plan.length > 0) await docker(["image", "rm", ...plan.map((i) => i.reference)], { allowFailure: true });
        if (root) fs.rmSync(root, { recursive: true, force: true });
        await registry?.stop();
    });

    function reg(): TestRegistry {
        if (!registry) throw new Error("the registry did not start");
        return registry;
    }

    it("plans the dev matrix on the test registry, with the same tags and content digests as on localhost:5000", () => {
        assert.ok(plan.length > 0);
        assert.deepEqual(
            plan.map((i) => [i.tag, i.contentDigest]),
            named.map((i) => [i.tag, i.contentDigest]),
        );
        for (const image of plan) assert.ok(image.reference.startsWith(`${reg().host}/baseten/truss-`), image.reference);
    });

    it("lists exactly the planned tags in each repository", async () => {
        const byRepository = new Map<string, string[]>();
        for (const image of plan)
            byRepository.set(repositoryPath(image, reg()), [...(byRepository.get(repositoryPath(image, reg())) ?? []), image.tag]);
        const catalogRes = await getJson<{ repositories: string[] }>(`${reg().url}/v2/_catalog`);
        assert.deepEqual([...catalogRes.body.repositories].sort(), [...byRepository.keys()].sort());
        for (const [name, tags] of byRepository) {
            const { body } = await getJson<{ name: string; tags: string[] }>(`${reg().url}/v2/${name}/tags/list`);
            assert.equal(body.name, name);
            assert.deepEqual([...body.tags].sort(), [...tags].sort(), `tags of ${name}`);
        }
    });

    named.forEach((namedImage, index) => {
        it(`serves ${namedImage.reference.replace("localhost:5000/", "")} as built, labelled with its planned content digest`, async () => {
            const image = plan[index];
            assert.ok(image, "not planned");
            const name = repositoryPath(image, reg());
            const accept = [MANIFEST_TYPES.dockerV2, MANIFEST_TYPES.oci, MANIFEST_TYPES.dockerList, MANIFEST_TYPES.ociIndex].join(", ");
            const { body: manifest, headers } = await getJson<Manifest>(`${reg().url}/v2/${name}/manifests/${image.tag}`, accept);
            const mediaType = manifest.mediaType ?? headers.get("content-type");
            assert.ok(
                mediaType === MANIFEST_TYPES.dockerV2 || mediaType === MANIFEST_TYPES.oci,
                `expected a single-platform image manifest, got ${mediaType}`,
            );
            assert.ok(manifest.layers.length > 0);

            // The registry serves the tag at the digest the local daemon recorded for the push.
            const servedDigest = headers.get("docker-content-digest");
            assert.match(servedDigest ?? "", /^sha256:[0-9a-f]{64}$/);
            const repoDigests: string[] = JSON.parse(
                (await docker(["image", "inspect", "--format", "{{json .RepoDigests}}", image.reference])).stdout,
            );
            assert.ok(repoDigests.includes(`${image.repository}@${servedDigest}`), `${servedDigest} not in ${repoDigests.join(", ")}`);

            const { body: config } = await getJson<ImageConfig>(`${reg().url}/v2/${name}/blobs/${manifest.config.digest}`);
            const labels = config.config.Labels ?? {};
            assert.equal(labels[LABELS.contentDigest], image.contentDigest);
            assert.equal(labels[LABELS.jobType], image.spec.jobType);
            assert.equal(labels[LABELS.pythonVersion], image.spec.python);
            assert.equal(labels[LABELS.accelerator], image.spec.accelerator);
            assert.equal(labels[LABELS.liveReload], String(image.spec.liveReload));
            assert.equal(`${config.os}/${config.architecture}`, catalog.platform);
        });
    });
});
