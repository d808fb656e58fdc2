// Multi-platform tags against a real registry (docker-registry on loopback): writing the OCI
// index of staged platform images, and classifying tags that hold indexes. The images are seeded
// through the HTTP API by test/support/registryImages.ts, written independently of src/registry.
import * as assert from "assert";
import { LABELS } from "../../../src/images/labels";
import type { ContentDigest, ImageSpec } from "../../../src/images/spec";
import { classify, ClassifyInput, immutableTagConflicts } from "../../../src/publish/classify";
import { estargzStagingTag, proofStagingTag, smokedStagingTag, stagingTag } from "../../../src/images/naming";
import type { RegistryIndexInputs } from "../../../src/pulumi/registryIndex";
import type { SmokedStagingTagInputs } from "../../../src/pulumi/smokedStagingTag";
import { loadSerialized } from "../../support/dynamicProviders";
import { publishIndex, RegistryClient, RegistryError } from "../../../src/registry";
import { DEFAULT_USER, startRegistry, TestRegistry } from "../../support/registry";
import { pushImage, putManifest, rawManifest, SeededManifest, Seeder } from "../../support/registryImages";

const REPO = "baseten/truss-server-base";
const SPEC: ImageSpec = { jobType: "server", python: "3.9", accelerator: "cpu", liveReload: false };
const digestOf = (c: string) => `sha256:${c.repeat(64)}` as ContentDigest;
const AMD64 = digestOf("1");
const ARM64 = digestOf("2");
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
/** The tag's content digest (it covers both platforms'). */
const TAG_CONTENT = digestOf("9");
const CONTENT = { key: LABELS.contentDigest, digest: TAG_CONTENT };

/** An index written by hand (not by the code under test), e.g. one another tool published. */
async function seedIndex(
    seeder: Seeder,
    tag: string,
    entries: { platform: string; image: SeededManifest; variant?: string }[],
): Promise<SeededManifest> {
    const manifests = entries.map((e) => {
        const [os, architecture] = e.platform.split("/");
        return {
            mediaType: e.image.mediaType,
            digest: e.image.digest,
            size: e.image.bytes.length,
            platform: { os, architecture, ...(e.variant ? { variant: e.variant } : {}) },
        };
    });
    return putManifest(seeder, REPO, tag, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests })), OCI_INDEX);
}

describe("multi-platform tags against a real registry", function () {
    this.timeout(60_000);
    let registry: TestRegistry;
    let seeder: Seeder;
    let client: RegistryClient;
    let repository: string;
    let amd64: SeededManifest;
    let arm64: SeededManifest;
    const PLATFORMS = [
        { platform: "linux/amd64", contentDigest: AMD64 },
        { platform: "linux/arm64", contentDigest: ARM64 },
    ];
    const wanted = () => [
        { platform: "linux/amd64", contentDigest: AMD64 },
        { platform: "linux/arm64", contentDigest: ARM64 },
    ];
    const input = (tag: string): ClassifyInput => ({ repository, tag, contentDigest: TAG_CONTENT, spec: SPEC, platforms: wanted() });
    const classifyOne = async (tag: string) =>
        (await classify([input(tag)], new RegistryClient({ server: registry.host, credentials: DEFAULT_USER })))[0];

    before(async () => {
        registry = await startRegistry({ auth: "htpasswd" });
        seeder = { url: registry.url, credentials: DEFAULT_USER };
        client = new RegistryClient({ server: registry.host, credentials: DEFAULT_USER });
        repository = `${registry.host}/${REPO}`;
        // The platform images in their staging tags, as the builds leave them.
        amd64 = await pushImage(seeder, REPO, stagingTag(AMD64), { labels: { [LABELS.contentDigest]: AMD64 }, format: "oci" });
        arm64 = await pushImage(seeder, REPO, stagingTag(ARM64), {
            labels: { [LABELS.contentDigest]: ARM64 },
            format: "docker",
            architecture: "arm64",
        });
    });
    after(async () => registry?.stop());

    it("writes the OCI index of the staged images at an absent tag, annotated with the tag's content digest, deterministically, and again is a no-op", async () => {
        const entries = [
            { platform: "linux/arm64", digest: arm64.digest },
            { platform: "linux/amd64", digest: amd64.digest },
        ];
        const first = await publishIndex(client, { repository, tag: "3.9-v1", entries, content: CONTENT });
        assert.equal(first.written, true);
        const served = await rawManifest(seeder, REPO, "3.9-v1");
        assert.ok(served);
        assert.equal(served.digest, first.digest);
        assert.equal(served.mediaType, OCI_INDEX);
        const body = JSON.parse(served.bytes.toString());
        assert.deepStrictEqual(body.annotations, { [LABELS.contentDigest]: TAG_CONTENT });
        assert.deepStrictEqual(body.manifests, [
            {
                mediaType: amd64.mediaType,
                digest: amd64.digest,
                size: amd64.bytes.length,
                platform: { os: "linux", architecture: "amd64" },
            },
            {
                mediaType: arm64.mediaType,
                digest: arm64.digest,
                size: arm64.bytes.length,
                platform: { os: "linux", architecture: "arm64" },
            },
        ]);
        const again = await publishIndex(client, { repository, tag: "3.9-v1", entries: [...entries].reverse(), content: CONTENT });
        assert.deepStrictEqual(again, { digest: first.digest, written: false });
    });

    it("never overwrites a tag that holds something else unless told to (no immutableTags), and refuses an image built for another architecture", async () => {
        const other = await pushImage(seeder, REPO, "3.9-taken", { labels: { [LABELS.contentDigest]: digestOf("7") } });
        const entries = [
            { platform: "linux/amd64", digest: amd64.digest },
            { platform: "linux/arm64", digest: arm64.digest },
        ];
        await assert.rejects(publishIndex(client, { repository, tag: "3.9-taken", entries, content: CONTENT }), (e: Error) => {
            assert.ok(e instanceof RegistryError && e.kind === "tag-exists", e.message);
            assert.match(e.message, /never overwritten/);
            return true;
        });
        assert.equal((await rawManifest(seeder, REPO, "3.9-taken"))?.digest, other.digest);
        // A stack without immutableTags (dev) rebuilds over a conflicting tag: only then is it replaced.
        const replaced = await publishIndex(client, { repository, tag: "3.9-taken", entries, content: CONTENT, overwrite: true });
        assert.equal(replaced.written, true);
        assert.equal((await rawManifest(seeder, REPO, "3.9-taken"))?.digest, replaced.digest);
        const swapped = [
            { platform: "linux/amd64", digest: arm64.digest },
            { platform: "linux/arm64", digest: amd64.digest },
        ];
        await assert.rejects(
            publishIndex(client, { repository, tag: "3.9-swapped", entries: swapped, content: CONTENT }),
            /built for linux\/arm64/,
        );
        assert.equal(await rawManifest(seeder, REPO, "3.9-swapped"), undefined, "nothing was written");
    });

    it("classifies a tag whose index holds exactly the wanted platforms and content as unchanged (arm64's v8 variant too)", async () => {
        const c = await classifyOne("3.9-v1");
        assert.equal(c.action, "unchanged");
        assert.equal(c.digest, (await rawManifest(seeder, REPO, "3.9-v1"))?.digest);
        await seedIndex(seeder, "3.9-v8", [
            { platform: "linux/amd64", image: amd64 },
            { platform: "linux/arm64", image: arm64, variant: "v8" },
        ]);
        assert.equal((await classifyOne("3.9-v8")).action, "unchanged");
    });

    it("finds an older tag holding the same index as a retag source, and the index step copies its index with our annotation", async () => {
        const c = await classifyOne("3.9-v2");
        assert.equal(c.action, "retag");
        assert.match(c.source ?? "", /:3\.9-v(1|8)$/);
        const provider = await loadSerialized("RegistryIndex");
        const inputs: RegistryIndexInputs = {
            server: registry.host,
            username: DEFAULT_USER.username,
            password: DEFAULT_USER.password,
            repository,
            tag: "3.9-v2",
            contentDigest: TAG_CONTENT,
            platforms: PLATFORMS,
            entries: [],
            source: c.source,
            sourceDigest: c.digest,
            immutable: true,
        };
        const created = await provider.create(inputs);
        const source = await rawManifest(seeder, REPO, (c.source as string).split(":").pop() as string);
        const copy = await rawManifest(seeder, REPO, "3.9-v2");
        assert.equal(created.outs.digest, copy?.digest);
        const copied = JSON.parse(copy!.bytes.toString());
        assert.deepStrictEqual(copied.manifests, JSON.parse(source!.bytes.toString()).manifests, "the same images");
        assert.deepStrictEqual(copied.annotations, { [LABELS.contentDigest]: TAG_CONTENT });
        assert.equal((await classifyOne("3.9-v2")).action, "unchanged");
    });

    it("the lean index step writes a built tag, then shows no change once the tag is unchanged, and replaces it for other content or another tag", async () => {
        const provider = await loadSerialized("RegistryIndex");
        const base = {
            server: registry.host,
            username: DEFAULT_USER.username,
            password: DEFAULT_USER.password,
            repository,
            tag: "3.9-gpu-v7",
            contentDigest: TAG_CONTENT,
            platforms: PLATFORMS,
            immutable: true,
        };
        const built: RegistryIndexInputs = {
            ...base,
            entries: [
                { platform: "linux/amd64", digest: amd64.digest },
                { platform: "linux/arm64", digest: arm64.digest },
            ],
        };
        const created = await provider.create(built);
        const served = await rawManifest(seeder, REPO, "3.9-gpu-v7");
        assert.equal(created.outs.digest, served?.digest);
        const unchanged: RegistryIndexInputs = { ...base, entries: [] };
        assert.deepStrictEqual(await provider.diff?.(created.id, created.outs, unchanged), {
            changes: false,
            replaces: [],
            deleteBeforeReplace: false,
        });
        // The check before the write: the tag already holds this content, so creating it again writes nothing.
        assert.equal((await provider.create(unchanged)).outs.digest, served?.digest);
        const otherContent = { ...built, contentDigest: digestOf("8") };
        assert.deepStrictEqual((await provider.diff?.(created.id, created.outs, otherContent))?.replaces, ["contentDigest"]);
        assert.deepStrictEqual((await provider.diff?.(created.id, created.outs, { ...unchanged, tag: "3.9-gpu-v6" }))?.replaces, ["tag"]);
    });

    it("a build after a partial failure counts a platform as staged only once its smoked staging tag (written by SmokedStagingTag after the smoke test) holds it (gzip)", async () => {
        // A variant no other tag has: nothing to re-tag from, so the tag is built.
        const reload = { ...input("3.9-reload-v1"), spec: { ...SPEC, liveReload: true } };
        const staged = async (platforms = reload.platforms) =>
            (await classify([{ ...reload, platforms }], new RegistryClient({ server: registry.host, credentials: DEFAULT_USER })))[0];
        // Both images are in their staging tags, pushed before any smoke test: neither counts.
        const before = await staged();
        assert.equal(before.action, "build");
        assert.deepStrictEqual(before.stagedDigests, {}, "a staging tag alone never proves a smoke test passed");

        const provider = await loadSerialized("SmokedStagingTag");
        const inputs = (contentDigest: string, digest: string): SmokedStagingTagInputs => ({
            username: DEFAULT_USER.username,
            password: DEFAULT_USER.password,
            repository,
            sourceDigest: digest,
            tag: smokedStagingTag(contentDigest),
        });

        // amd64 passed its smoke test: its manifest, copied byte for byte.
        const marked = await provider.create(inputs(AMD64, amd64.digest));
        assert.equal(marked.id, `${repository}:${smokedStagingTag(AMD64)}`);
        assert.equal(marked.outs.digest, amd64.digest);
        assert.deepStrictEqual((await rawManifest(seeder, REPO, smokedStagingTag(AMD64)))?.bytes, amd64.bytes);
        assert.deepStrictEqual((await staged()).stagedDigests, { "linux/amd64": amd64.digest });

        await provider.create(inputs(ARM64, arm64.digest));
        assert.deepStrictEqual((await staged()).stagedDigests, { "linux/amd64": amd64.digest, "linux/arm64": arm64.digest });
        // The smoked tag is for one content digest: other arm64 content is not staged by it.
        const other = digestOf("3");
        const partial = await staged([wanted()[0], { platform: "linux/arm64", contentDigest: other }]);
        assert.equal(partial.action, "build");
        assert.deepStrictEqual(partial.stagedDigests, { "linux/amd64": amd64.digest });
        // Its diff: a new tested digest writes it again; nothing else does.
        assert.deepStrictEqual((await provider.diff?.(marked.id, marked.outs, inputs(AMD64, amd64.digest)))?.changes, false);
        assert.deepStrictEqual((await provider.diff?.(marked.id, marked.outs, inputs(AMD64, arm64.digest)))?.replaces, ["sourceDigest"]);
    });

    it("with eStargz, a platform counts as staged only under its build-<hex>-estargz tag (written after the smoke test and conversion) holding its label: not under build-<hex>, nor under build-<hex>-smoked alone", async () => {
        // A variant no other tag has (gpu, reload): nothing to re-tag from, so the tag is built.
        const AMD = digestOf("a");
        const ARM = digestOf("b");
        const image: ClassifyInput = {
            ...input("3.9-gpu-reload-v1"),
            spec: { ...SPEC, accelerator: "gpu", liveReload: true },
            platforms: [
                { platform: "linux/amd64", contentDigest: AMD },
                { platform: "linux/arm64", contentDigest: ARM },
            ],
        };
        const staged = async (compression?: "gzip" | "estargz") => {
            const c = await classify([image], new RegistryClient({ server: registry.host, credentials: DEFAULT_USER }), { compression });
            assert.equal(c[0].action, "build");
            return c[0].stagedDigests;
        };
        const amdSeed = { labels: { [LABELS.contentDigest]: AMD }, layerText: "amd64 eStargz", format: "oci" as const };
        const armSeed = {
            labels: { [LABELS.contentDigest]: ARM },
            layerText: "arm64 eStargz",
            format: "oci" as const,
            architecture: "arm64",
        };

        // The builds pushed their gzip staging tags, before any smoke test: nothing is proven.
        await pushImage(seeder, REPO, stagingTag(AMD), { ...amdSeed, layerText: "amd64 gzip", format: "docker" });
        await pushImage(seeder, REPO, stagingTag(ARM), { ...armSeed, layerText: "arm64 gzip", format: "docker" });
        assert.deepStrictEqual(await staged("estargz"), {}, "a gzip staging tag proves nothing");

        // A -smoked tag alone (which no eStargz run ever left without its -estargz tag) is not the eStargz proof.
        const smokedOnly = await pushImage(seeder, REPO, smokedStagingTag(AMD), amdSeed);
        assert.deepStrictEqual(await staged("estargz"), {}, "only the proof tag of the stack's compression counts");
        assert.deepStrictEqual(await staged("gzip"), { "linux/amd64": smokedOnly.digest }, "while a gzip stack takes it");
        assert.deepStrictEqual(await staged(), { "linux/amd64": smokedOnly.digest }, "gzip when the compression is not given");

        // amd64 passed its smoke test and was converted: its -estargz tag is the proof.
        const converted = await pushImage(seeder, REPO, estargzStagingTag(AMD), amdSeed);
        assert.equal(proofStagingTag(AMD, "estargz"), estargzStagingTag(AMD));
        assert.deepStrictEqual(await staged("estargz"), { "linux/amd64": converted.digest });

        // An arm64 image under its -estargz tag with another content digest label is not this platform's.
        await pushImage(seeder, REPO, estargzStagingTag(ARM), { ...armSeed, labels: { [LABELS.contentDigest]: digestOf("c") } });
        assert.deepStrictEqual(await staged("estargz"), { "linux/amd64": converted.digest }, "a wrong label is refused");
        const armConverted = await pushImage(seeder, REPO, estargzStagingTag(ARM), armSeed);
        assert.deepStrictEqual(await staged("estargz"), { "linux/amd64": converted.digest, "linux/arm64": armConverted.digest });
    });

    describe("conflicts name the platform", () => {
        it("an index missing a platform", async () => {
            await seedIndex(seeder, "3.9-missing", [{ platform: "linux/amd64", image: amd64 }]);
            const c = await classifyOne("3.9-missing");
            assert.equal(c.action, "conflict");
            assert.match(c.conflictReason ?? "", /its index has no linux\/arm64 image/);
        });

        it("an index holding an extra platform", async () => {
            const riscv = await pushImage(seeder, REPO, "riscv-image", { labels: {}, architecture: "riscv64" });
            await seedIndex(seeder, "3.9-extra", [
                { platform: "linux/amd64", image: amd64 },
                { platform: "linux/arm64", image: arm64 },
                { platform: "linux/riscv64", image: riscv },
            ]);
            const c = await classifyOne("3.9-extra");
            assert.equal(c.action, "conflict");
            assert.match(c.conflictReason ?? "", /holds linux\/riscv64, which this stack does not publish/);
        });

        it("an index whose arm64 image has other content", async () => {
            const otherArm = await pushImage(seeder, REPO, "other-arm", {
                labels: { [LABELS.contentDigest]: digestOf("5") },
                architecture: "arm64",
            });
            await seedIndex(seeder, "3.9-other", [
                { platform: "linux/amd64", image: amd64 },
                { platform: "linux/arm64", image: otherArm },
            ]);
            const c = await classifyOne("3.9-other");
            assert.equal(c.action, "conflict");
            assert.match(c.conflictReason ?? "", new RegExp(`its linux/arm64 image has content digest ${digestOf("5")}`));
            assert.doesNotMatch(c.conflictReason ?? "", /linux\/amd64/);
            const error = immutableTagConflicts([c]);
            assert.ok(error);
            assert.match(error.message, /3\.9-other: its linux\/arm64 image has content digest/);
            assert.match(error.message, /Bump versionTag/);
        });

        it("a single image where an index is wanted", async () => {
            await pushImage(seeder, REPO, "3.9-single", { labels: { [LABELS.contentDigest]: AMD64 } });
            const c = await classifyOne("3.9-single");
            assert.equal(c.action, "conflict");
            assert.match(
                c.conflictReason ?? "",
                /single-platform image \(linux\/amd64, content digest .*\) where an index of linux\/amd64, linux\/arm64 is wanted/,
            );
        });

        it("a mismatching older index is no retag source", async () => {
            // 3.9-missing, -extra, -other and -single are all siblings of 3.9-v9; only v1/v2/v8 match.
            const c = await classifyOne("3.9-v9");
            assert.equal(c.action, "retag");
            assert.match(c.source ?? "", /:3\.9-v(1|2|8)$/);
        });
    });
});
