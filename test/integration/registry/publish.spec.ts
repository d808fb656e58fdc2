import * as assert from "assert";
import {
    DEFAULT_PLATFORM,
    manifestAnnotation,
    parseManifest,
    publishTag,
    RegistryClient,
    RegistryError,
    tagStatus,
    TagHeldError,
} from "../../../src/registry";
import { startRegistry, TestRegistry } from "../../support/registry";
import { pushImage, putManifest, rawManifest } from "../../support/registryImages";

const KEY = "truss.base.content-digest";
const content = (n: string) => `sha256:${n.repeat(64)}`;

describe("publishTag against a real registry: the only writer of published tags, checking each tag right before writing it", () => {
    let registry: TestRegistry;
    const path = "baseten/truss-server-base";
    const repo = () => `${registry.host}/${path}`;
    const client = () => new RegistryClient({ server: registry.host, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 } });
    const request = (tag: string, source: string | undefined, digest: string, overwrite = false) => ({
        repository: repo(),
        tag,
        source,
        content: { key: KEY, digest },
        platform: DEFAULT_PLATFORM,
        overwrite,
    });

    before(async () => {
        registry = await startRegistry();
    });
    after(async () => registry?.stop());

    for (const format of ["docker", "oci"] as const) {
        it(`writes an absent tag from the staging tag (${format}): the same manifest plus the content digest annotation`, async () => {
            const cd = content(format === "docker" ? "1" : "2");
            const staged = await pushImage(registry, path, `build-${cd.slice(7)}`, { labels: { [KEY]: cd }, format });
            const c = client();
            const result = await publishTag(c, request(`3.9-${format}-v1`, `build-${cd.slice(7)}`, cd));
            assert.strictEqual(result.written, true);
            const served = await rawManifest(registry, path, `3.9-${format}-v1`);
            assert.ok(served);
            assert.strictEqual(served.digest, result.digest);
            assert.strictEqual(served.mediaType, staged.mediaType);
            const published = parseManifest(served.bytes, served.mediaType);
            assert.strictEqual(manifestAnnotation(published, KEY), cd);
            const source = JSON.parse(staged.bytes.toString("utf8"));
            const { annotations, ...rest } = JSON.parse(served.bytes.toString("utf8"));
            assert.deepStrictEqual(rest, source, "the config and layers are the staging tag's");
            assert.deepStrictEqual(annotations, { [KEY]: cd });

            // Again: the tag already holds the content, so nothing is written.
            const again = client();
            assert.deepStrictEqual(await publishTag(again, request(`3.9-${format}-v1`, `build-${cd.slice(7)}`, cd)), {
                digest: result.digest,
                written: false,
            });
            assert.strictEqual(again.stats.byOperation["put-manifest"], 0);
        });
    }

    it("never overwrites a tag that appeared with other content since the plan (immutableTags): nothing is written", async () => {
        const ours = content("3");
        await pushImage(registry, path, `build-${ours.slice(7)}`, { labels: { [KEY]: ours } });
        // Someone else publishes the tag between our plan (tag absent) and our write.
        const theirs = await pushImage(registry, path, "3.10-v1", { labels: { [KEY]: content("4") } });
        const err = await publishTag(client(), request("3.10-v1", `build-${ours.slice(7)}`, ours)).then(
            () => assert.fail("the tag was overwritten"),
            (e: unknown) => e as TagHeldError,
        );
        assert.ok(err instanceof TagHeldError && err instanceof RegistryError);
        assert.strictEqual(err.kind, "tag-exists");
        assert.deepStrictEqual(err.published, { digest: theirs.digest, contentDigest: content("4"), shape: "image" });
        assert.match(
            err.message,
            /tag 3\.10-v1: the tag already holds content digest sha256:4{64} \(manifest sha256:[a-f0-9]{64}\), not content digest sha256:3{64}; published tags are never overwritten/,
        );
        assert.strictEqual(
            (await rawManifest(registry, path, "3.10-v1"))?.digest,
            theirs.digest,
            "the registry still serves their manifest",
        );
    });

    it("overwrites other content only when allowed (immutableTags false)", async () => {
        const ours = content("5");
        await pushImage(registry, path, `build-${ours.slice(7)}`, { labels: { [KEY]: ours } });
        await pushImage(registry, path, "3.11-v1", { labels: { [KEY]: content("6") } });
        const result = await publishTag(client(), request("3.11-v1", `build-${ours.slice(7)}`, ours, true));
        assert.strictEqual(result.written, true);
        assert.strictEqual((await rawManifest(registry, path, "3.11-v1"))?.digest, result.digest);
    });

    it("refuses a source that does not hold the expected content", async () => {
        await pushImage(registry, path, "build-wrong", { labels: { [KEY]: content("7") } });
        await assert.rejects(publishTag(client(), request("3.12-v1", "build-wrong", content("8"))), (e: RegistryError) => {
            assert.strictEqual(e.kind, "digest-mismatch");
            assert.match(
                e.message,
                /the source build-wrong holds content digest sha256:7{64}, not content digest sha256:8{64}; nothing was written/,
            );
            return true;
        });
        assert.strictEqual(await rawManifest(registry, path, "3.12-v1"), undefined);
    });

    it("fails clearly when the tag is missing and there is no source", async () => {
        await assert.rejects(publishTag(client(), request("3.12-v9", undefined, content("9"))), (e: RegistryError) => {
            assert.strictEqual(e.kind, "not-found");
            assert.match(e.message, /tag 3\.12-v9: .*the tag is missing and there is nothing to copy it from/);
            return true;
        });
    });

    it("names an index without a linux/amd64 image as such, not as an image without a label", async () => {
        const pushed = await pushImage(registry, path, "multi", { labels: { [KEY]: content("a") }, format: "oci", index: true });
        const index = JSON.parse(pushed.bytes.toString("utf8"));
        index.manifests = index.manifests.filter((m: { platform: { architecture: string } }) => m.platform.architecture !== "amd64");
        await putManifest(registry, path, "3.13-v1", Buffer.from(JSON.stringify(index)), pushed.mediaType);
        await pushImage(registry, path, `build-${"b".repeat(64)}`, { labels: { [KEY]: content("b") } });
        await assert.rejects(publishTag(client(), request("3.13-v1", `build-${"b".repeat(64)}`, content("b"))), (e: TagHeldError) => {
            assert.strictEqual(e.published.shape, "index-without-platform");
            assert.match(e.message, /the tag already holds an index without a linux\/amd64 image/);
            return true;
        });
    });

    it("tagStatus: present, missing, or different (one HEAD)", async () => {
        const a = await pushImage(registry, path, "status-a", { labels: { x: "a" } });
        const b = await pushImage(registry, path, "status-b", { labels: { x: "b" } });
        const c = client();
        assert.deepStrictEqual(await tagStatus(c, repo(), "status-a", a.digest), { state: "present" });
        assert.deepStrictEqual(await tagStatus(c, repo(), "status-a", b.digest), { state: "different", digest: a.digest });
        assert.deepStrictEqual(await tagStatus(c, repo(), "status-none", a.digest), { state: "missing" });
    });
});
