import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { loadCatalog } from "../../../src/images/catalog";
import { parseStackConfig } from "../../../src/config/stackConfig";
import { LABELS } from "../../../src/images/labels";
import { planImages, PlannedImage } from "../../../src/publish/plannedImages";
import {
    classify,
    Classified,
    compareVersions,
    countActions,
    immutableTagConflicts,
    needsBuild,
    retagCandidates,
} from "../../../src/publish/classify";
import { annotate, DEFAULT_PLATFORM, publishTag, RegistryClient } from "../../../src/registry";
import { parseManifest } from "../../../src/registry/manifest";
import { docker, ensureDockerDaemon } from "../../support/docker";
import { copyImages, editFile, tempDir, wholeImagesRaw } from "../../support/fixtures";
import { DEFAULT_USER, startRegistry, TestRegistry } from "../../support/registry";
import { pushImage, rawManifest, Seeder } from "../../support/registryImages";

const FAST_RETRY = { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 };

/** 32 images of images/ (both job types, four pythons, cpu/gpu, reload off/on) on a test registry. */
function prodPlan(server: string, versionTag: string, opts: { imagesDir?: string; namespace?: string } = {}): PlannedImage[] {
    const catalog = loadCatalog(opts.imagesDir);
    const raw = { ...wholeImagesRaw(), versionTag, registry: { server, namespace: opts.namespace ?? "baseten" } };
    return planImages(parseStackConfig(raw, catalog, "test"), catalog);
}

function pathOf(image: { repository: string }): string {
    return image.repository.slice(image.repository.indexOf("/") + 1);
}

/** Publishes images as a build would: one small image per tag, labelled with its content digest. */
async function publish(seeder: Seeder, images: readonly PlannedImage[]): Promise<Map<string, string>> {
    const digests = new Map<string, string>();
    for (const image of images) {
        const m = await pushImage(seeder, pathOf(image), image.tag, {
            labels: { [LABELS.contentDigest]: image.contentDigest, [LABELS.jobType]: image.spec.jobType },
        });
        digests.set(image.reference, m.digest);
    }
    return digests;
}

function actions(images: readonly Classified<PlannedImage>[]): Record<string, string> {
    return Object.fromEntries(images.map((i) => [i.reference, i.action]));
}

function allOf(images: readonly PlannedImage[], action: string): Record<string, string> {
    return Object.fromEntries(images.map((i) => [i.reference, action]));
}

/** What RegistryTag asks of publishTag for a classified image. */
function publishRequest(i: { repository: string; tag: string; source?: string; digest?: string; contentDigest: string }) {
    return {
        repository: i.repository,
        tag: i.tag,
        source: i.source,
        sourceDigest: i.digest,
        content: { key: LABELS.contentDigest, digest: i.contentDigest },
        platform: DEFAULT_PLATFORM,
        overwrite: false,
    };
}

describe("compareVersions / retagCandidates", () => {
    it("orders versions oldest to newest, pre-releases before their release", () => {
        const sorted = ["v0.10.0", "v0.9.1", "latest", "v0.9.1rc0", "v0.9.1.post1", "v0.2.2", "v1", "dev"].sort(compareVersions);
        assert.deepStrictEqual(sorted, ["dev", "latest", "v0.2.2", "v0.9.1rc0", "v0.9.1", "v0.9.1.post1", "v0.10.0", "v1"]);
    });

    it("takes only the image's own variant, newest first", () => {
        const tags = [
            "3.9-v0.2.2",
            "3.9-gpu-v0.2.3",
            "3.9-reload-v0.2.3",
            "3.9-v0.10.0",
            "3.9-v0.9.0",
            "3.10-v0.9.0",
            "3.9-v0.11.0",
            "latest",
        ];
        const image = { spec: { jobType: "server", python: "3.9", accelerator: "cpu" as const, liveReload: false }, tag: "3.9-v0.11.0" };
        assert.deepStrictEqual(retagCandidates(image, tags), ["3.9-v0.10.0", "3.9-v0.9.0", "3.9-v0.2.2"]);
        const gpu = { spec: { ...image.spec, accelerator: "gpu" as const }, tag: "3.9-gpu-v0.3.0" };
        assert.deepStrictEqual(retagCandidates(gpu, tags), ["3.9-gpu-v0.2.3"]);
    });
});

describe("classify against a real registry (the prod matrix)", function () {
    let registry: TestRegistry;
    const client = () => new RegistryClient({ server: registry.host, retry: FAST_RETRY });

    before(async () => {
        registry = await startRegistry();
    });
    after(async () => registry?.stop());

    it("walks a release cycle: build, unchanged, retag, copy, unchanged, partial change", async () => {
        const v1 = prodPlan(registry.host, "v1.0.0");
        assert.strictEqual(v1.length, 32);

        // An empty registry: everything is built.
        const first = await classify(v1, client());
        assert.deepStrictEqual(actions(first), allOf(v1, "build"));
        assert.ok(first.every((i) => i.digest === undefined && i.source === undefined && needsBuild(i)));

        // After the push, nothing to do: every tag holds its content.
        const pushed = await publish(registry, v1);
        const again = await classify(v1, client());
        assert.deepStrictEqual(actions(again), allOf(v1, "unchanged"));
        assert.ok(again.every((i) => i.digest === pushed.get(i.reference)));

        // A version bump without a content change: every image is re-tagged from v1, none built.
        const v2 = prodPlan(registry.host, "v1.0.1");
        const c = client();
        const bumped = await classify(v2, c);
        assert.deepStrictEqual(actions(bumped), allOf(v2, "retag"));
        for (const image of bumped) {
            assert.strictEqual(image.source, `${image.repository}:${image.tag.replace("v1.0.1", "v1.0.0")}`);
            assert.strictEqual(image.digest, pushed.get(image.source));
        }
        // Per image: its own tag (absent), then the re-tag source's manifest and config blob;
        // one tag list per repository (only because tags were absent), one ping.
        assert.deepStrictEqual(c.stats.byOperation, { ping: 1, token: 0, tags: 2, manifest: 64, blob: 32, "put-manifest": 0 });

        // The copies are their sources plus the content digest annotation; then everything is unchanged.
        const copier = client();
        await Promise.all(bumped.map((i) => publishTag(copier, publishRequest(i))));
        for (const image of bumped) {
            const [src, dst] = await Promise.all([
                rawManifest(registry, pathOf(image), (image.source as string).split(":").pop() as string),
                rawManifest(registry, pathOf(image), image.tag),
            ]);
            assert.ok(src && dst, `${image.reference} and ${image.source} exist`);
            const expected = annotate(parseManifest(src.bytes, src.mediaType), LABELS.contentDigest, image.contentDigest);
            assert.ok(dst.bytes.equals(expected), `${image.reference} is ${image.source} with the content digest annotation`);
            assert.strictEqual(dst.mediaType, src.mediaType);
        }
        assert.deepStrictEqual(actions(await classify(v2, client())), allOf(v2, "unchanged"));

        // The training requirements change, then a bump: training images are built, server
        // images re-tagged from the newest version that holds their content.
        const images = copyImages();
        editFile(images, "requirements/training.txt", (t) => `${t}truss-extra-package==1.0\n`);
        const v3 = prodPlan(registry.host, "v1.1.0", { imagesDir: images });
        const changed = await classify(v3, client());
        for (const image of changed) {
            if (image.spec.jobType === "training") {
                assert.strictEqual(image.action, "build", image.reference);
            } else {
                assert.strictEqual(image.action, "retag", image.reference);
                assert.strictEqual(image.source, `${image.repository}:${image.tag.replace("v1.1.0", "v1.0.1")}`, "the newest source");
            }
        }
        assert.deepStrictEqual(countActions(changed), { build: 16, retag: 16, unchanged: 0, conflict: 0 });
    });

    it("finds a conflict when a published tag holds other content, and explains it once for all tags", async () => {
        const plan = prodPlan(registry.host, "v2.0.0", { namespace: "conflicts" });
        const [a, b] = [plan[0], plan[plan.length - 1]];
        const other = "sha256:" + "e".repeat(64);
        const pa = await pushImage(registry, pathOf(a), a.tag, { labels: { [LABELS.contentDigest]: other } });
        const pb = await pushImage(registry, pathOf(b), b.tag, { labels: { "org.opencontainers.image.title": "something else" } });
        const result = await classify([a, b, plan[1]], client());
        assert.deepStrictEqual(
            result.map((i) => [i.action, i.digest, i.publishedContentDigest]),
            [
                ["conflict", pa.digest, other],
                ["conflict", pb.digest, null],
                ["build", undefined, undefined],
            ],
        );
        assert.ok(needsBuild(result[0]), "without immutableTags a conflict is rebuilt");
        const err = immutableTagConflicts(result);
        assert.ok(err);
        assert.strictEqual(
            err.message,
            `2 tags are already published with different content, and immutableTags is on; nothing was built, pushed or re-tagged:\n` +
                `  - ${a.reference}: the registry holds content digest ${other} (manifest ${pa.digest}); this stack would publish content digest ${a.contentDigest}\n` +
                `  - ${b.reference}: the registry holds an image without a truss.base.content-digest label (manifest ${pb.digest}); this stack would publish content digest ${b.contentDigest}\n` +
                "Published tags are never overwritten. Bump versionTag (`pulumi config set versionTag <new version>`) to publish this content under new tags.",
        );
        assert.strictEqual(immutableTagConflicts(result.slice(2)), undefined);
    });

    it("reads labels through an index's linux/amd64 entry and re-tags the whole index", async () => {
        const [image] = prodPlan(registry.host, "v3.0.0", { namespace: "indexes" });
        const next = prodPlan(registry.host, "v3.0.1", { namespace: "indexes" })[0];
        const pushed = await pushImage(registry, pathOf(image), image.tag, {
            labels: { [LABELS.contentDigest]: image.contentDigest },
            format: "oci",
            index: true,
        });
        assert.deepStrictEqual(
            (await classify([image], client())).map((i) => [i.action, i.digest]),
            [["unchanged", pushed.digest]],
        );
        const [retag] = await classify([next], client());
        assert.deepStrictEqual([retag.action, retag.source, retag.digest], ["retag", image.reference, pushed.digest]);
    });

    it("looks back at most `lookback` versions for a source, then builds", async () => {
        const old = prodPlan(registry.host, "v4.0.0", { namespace: "lookback" })[0];
        await pushImage(registry, pathOf(old), old.tag, { labels: { [LABELS.contentDigest]: old.contentDigest } });
        for (const v of ["v4.0.1", "v4.0.2"]) {
            const p = prodPlan(registry.host, v, { namespace: "lookback" })[0];
            await pushImage(registry, pathOf(p), p.tag, { labels: { [LABELS.contentDigest]: "sha256:" + "f".repeat(64) }, layerText: v });
        }
        const current = prodPlan(registry.host, "v4.1.0", { namespace: "lookback" })[0];
        const c = client();
        assert.strictEqual((await classify([current], c, { lookback: 2 }))[0].action, "build");
        assert.strictEqual((await classify([current], client(), { lookback: 10 }))[0].source?.endsWith(old.tag), true);
    });
});

describe("classify with bearer-token auth", () => {
    let registry: TestRegistry;
    before(async () => {
        registry = await startRegistry({ auth: "token" });
    });
    after(async () => registry?.stop());

    it("classifies with one token per repository", async () => {
        const plan = prodPlan(registry.host, "v1");
        await publish({ url: registry.url, credentials: DEFAULT_USER }, plan.slice(0, 4));
        const c = new RegistryClient({ server: registry.host, credentials: DEFAULT_USER, retry: FAST_RETRY });
        const result = await classify(plan, c);
        assert.deepStrictEqual(countActions(result), { build: 28, retag: 0, unchanged: 4, conflict: 0 });
        assert.strictEqual(c.stats.byOperation.token, 2);
    });
});

describe("classify an image pushed by the real Docker daemon (FROM scratch: one file and our content label)", function () {
    this.timeout(180_000);
    let registry: TestRegistry;
    before(async function () {
        await ensureDockerDaemon();
        registry = await startRegistry();
    });
    after(async () => registry?.stop());

    it("is unchanged under its tag, re-tags to the next version, and the copy pulls with the same label", async () => {
        const image = prodPlan(registry.host, "v0.1.0")[0];
        const next = prodPlan(registry.host, "v0.1.1")[0];
        const ctx = tempDir("scratch-image");
        fs.writeFileSync(path.join(ctx, "truss.txt"), "a tiny layer\n");
        fs.writeFileSync(
            path.join(ctx, "Dockerfile"),
            `FROM scratch\nCOPY truss.txt /truss.txt\nLABEL ${LABELS.contentDigest}="${image.contentDigest}"\n`,
        );
        try {
            await docker(["build", "--network", "host", "-t", image.reference, ctx]);
            await docker(["push", image.reference]);
            const [published] = await classify([image], new RegistryClient({ server: registry.host, retry: FAST_RETRY }));
            assert.strictEqual(published.action, "unchanged");
            const repoDigest = (await docker(["inspect", "--format", "{{index .RepoDigests 0}}", image.reference])).stdout.trim();
            assert.strictEqual(repoDigest, `${image.repository}@${published.digest}`);

            const [retag] = await classify([next], new RegistryClient({ server: registry.host, retry: FAST_RETRY }));
            assert.deepStrictEqual([retag.action, retag.source], ["retag", image.reference]);
            await publishTag(new RegistryClient({ server: registry.host }), publishRequest({ ...next, ...retag }));
            await docker(["pull", next.reference]);
            const label = (
                await docker(["inspect", "--format", `{{index .Config.Labels "${LABELS.contentDigest}"}}`, next.reference])
            ).stdout.trim();
            assert.strictEqual(label, image.contentDigest);
        } finally {
            await docker(["rmi", "-f", image.reference, next.reference], { allowFailure: true });
        }
    });
});
