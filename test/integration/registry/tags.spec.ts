import * as assert from "assert";
import { ensureTag, RegistryClient, RegistryError, tagStatus } from "../../../src/registry";
import { startRegistry, TestRegistry } from "../../support/registry";
import { pushImage, rawManifest } from "../../support/registryImages";

describe("ensureTag / tagStatus against a real registry (the re-tag resource's logic)", () => {
    let registry: TestRegistry;
    const path = "baseten/truss-server-base";
    const repo = () => `${registry.host}/${path}`;
    const client = () => new RegistryClient({ server: registry.host, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 } });

    before(async () => {
        registry = await startRegistry();
    });
    after(async () => registry?.stop());

    it("copies the source to a missing tag, byte for byte, and proves the registry serves it", async () => {
        const src = await pushImage(registry, path, "3.9-v1", { labels: { x: "1" }, format: "oci", index: true });
        const c = client();
        assert.deepStrictEqual(await tagStatus(c, repo(), "3.9-v2", src.digest), { state: "missing" });
        assert.deepStrictEqual(await ensureTag(c, { repository: repo(), tag: "3.9-v2", digest: src.digest, source: "3.9-v1" }), {
            digest: src.digest,
            copied: true,
        });
        const served = await rawManifest(registry, path, "3.9-v2");
        assert.ok(served?.bytes.equals(src.bytes));
        assert.strictEqual(served?.mediaType, src.mediaType);
        assert.deepStrictEqual(await tagStatus(c, repo(), "3.9-v2", src.digest), { state: "present" });
    });

    it("does nothing when the tag already holds the digest (no PUT)", async () => {
        const src = await pushImage(registry, path, "3.10-v1", { labels: { x: "2" } });
        const c = client();
        assert.deepStrictEqual(await ensureTag(c, { repository: repo(), tag: "3.10-v1", digest: src.digest, source: "3.10-v0" }), {
            digest: src.digest,
            copied: false,
        });
        assert.strictEqual(c.stats.byOperation["put-manifest"], 0);
    });

    it("never overwrites a tag that holds something else", async () => {
        const a = await pushImage(registry, path, "3.11-v1", { labels: { x: "a" } });
        const b = await pushImage(registry, path, "3.11-v2", { labels: { x: "b" } });
        const c = client();
        assert.deepStrictEqual(await tagStatus(c, repo(), "3.11-v2", a.digest), { state: "different", digest: b.digest });
        await assert.rejects(
            ensureTag(c, { repository: repo(), tag: "3.11-v2", digest: a.digest, source: "3.11-v1" }),
            (e: RegistryError) => {
                assert.strictEqual(e.kind, "tag-exists");
                assert.match(
                    e.message,
                    new RegExp(`tag 3\\.11-v2: the tag already holds ${b.digest}, not ${a.digest}; published tags are never overwritten`),
                );
                return true;
            },
        );
        assert.strictEqual((await rawManifest(registry, path, "3.11-v2"))?.digest, b.digest);
    });

    it("fails clearly when the tag is missing and there is no source", async () => {
        await assert.rejects(
            ensureTag(client(), { repository: repo(), tag: "3.12-v9", digest: "sha256:" + "1".repeat(64) }),
            (e: RegistryError) => {
                assert.strictEqual(e.kind, "not-found");
                assert.match(e.message, /tag 3\.12-v9: the tag is missing and there is nothing to copy it from/);
                return true;
            },
        );
    });
});
