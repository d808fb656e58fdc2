// The faults of a registry that classification must survive without ever planning a build over
// a published tag, each forced by a proxy in front of a real registry (all on loopback).
import * as assert from "assert";
import { classify, ClassifyInput, immutableTagConflicts } from "../../../src/publish/classify";
import { RegistryClient, RegistryError } from "../../../src/registry";
import { startRegistry, TestRegistry } from "../../support/registry";
import { pushImage, putManifest } from "../../support/registryImages";
import { RegistryProxy, startRegistryProxy } from "../../support/registryProxy";

const KEY = "truss.base.content-digest";
const FAST_RETRY = { attempts: 2, baseDelayMs: 5, maxDelayMs: 20 };
const content = (n: string) => `sha256:${n.repeat(64)}` as const;
const SPEC = { jobType: "server", python: "3.9", accelerator: "cpu", liveReload: false } as const;
const isTagList = (r: { method: string; path: string }) => r.method === "GET" && r.path.includes("/tags/list");

describe("classification against a registry that misbehaves (a fault-injecting proxy in front of a real registry)", () => {
    let registry: TestRegistry;
    let proxy: RegistryProxy;
    const path = "baseten/truss-server-base";
    const image = (tag: string, contentDigest: `sha256:${string}`): ClassifyInput => ({
        repository: `${proxy.host}/${path}`,
        tag,
        contentDigest,
        spec: SPEC,
    });
    const client = () => new RegistryClient({ server: proxy.host, retry: FAST_RETRY });

    before(async () => {
        registry = await startRegistry();
        proxy = await startRegistryProxy({ target: registry.url });
        await pushImage(registry, path, "3.9-v1", { labels: { [KEY]: content("1") } });
        await pushImage(registry, path, "3.9-v2", { labels: { [KEY]: content("2") } });
    });
    afterEach(() => proxy.faults.splice(0));
    after(async () => {
        await proxy?.stop();
        await registry?.stop();
    });

    for (const [what, body] of [
        ["has no tags key", JSON.stringify({ name: path })],
        ["is stale (leaves the tag out)", JSON.stringify({ name: path, tags: ["3.9-v0"] })],
        ["says null", JSON.stringify({ name: path, tags: null })],
    ] as const) {
        it(`a published tag is never planned as build when the tag list ${what}: unchanged or conflict`, async () => {
            proxy.faults.push({ match: isTagList, status: 200, body, times: Infinity });
            const [same, other] = await classify([image("3.9-v1", content("1")), image("3.9-v2", content("9"))], client());
            assert.strictEqual(same.action, "unchanged");
            assert.strictEqual(other.action, "conflict");
            assert.strictEqual(other.publishedContentDigest, content("2"));
        });
    }

    it("asks for n tags per page, and reads a page of 130,000 tags without a stack overflow", async () => {
        const tags = Array.from({ length: 130_000 }, (_, i) => `3.9-v0.0.${i}`);
        proxy.faults.push({ match: isTagList, status: 200, body: JSON.stringify({ name: path, tags }), times: Infinity });
        const [absent] = await classify([image("3.9-v3", content("3"))], client());
        assert.strictEqual(absent.action, "build");
        const asked = proxy.requests.filter(isTagList).pop();
        assert.match(asked?.path ?? "", /\?n=1000$/);
    });

    it("refuses a tag page larger than a page may be, with a registry error (bounded memory)", async () => {
        const tags = Array.from({ length: 700_000 }, (_, i) => `3.9-v0.0.${i}`);
        proxy.faults.push({ match: isTagList, status: 200, body: JSON.stringify({ name: path, tags }), times: Infinity });
        await assert.rejects(classify([image("3.9-v4", content("4"))], client()), (e: RegistryError) => {
            assert.ok(e instanceof RegistryError);
            assert.strictEqual(e.kind, "too-large");
            assert.match(e.message, /while listing tags: the answer is larger than the 8192 KiB a page of tags may be, so it was not read/);
            return true;
        });
    });

    it("refuses a manifest larger than a manifest may be", async () => {
        proxy.faults.push({
            match: (r) => r.method === "GET" && r.path.endsWith("/manifests/3.9-v1"),
            status: 200,
            headers: { "content-type": "application/vnd.docker.distribution.manifest.v2+json" },
            body: " ".repeat(5 * 1024 * 1024),
            times: Infinity,
        });
        await assert.rejects(classify([image("3.9-v1", content("1"))], client()), (e: RegistryError) => {
            assert.strictEqual(e.kind, "too-large");
            assert.match(
                e.message,
                /tag 3\.9-v1: HTTP 200 while reading a manifest: the answer is larger than the 4096 KiB a manifest may be/,
            );
            return true;
        });
    });

    it("names an index without linux/amd64 as such in the conflict message", async () => {
        const pushed = await pushImage(registry, path, "multi", { labels: { [KEY]: content("5") }, format: "oci", index: true });
        const index = JSON.parse(pushed.bytes.toString("utf8"));
        index.manifests = index.manifests.filter((m: { platform: { architecture: string } }) => m.platform.architecture !== "amd64");
        await putManifest(registry, path, "3.9-v5", Buffer.from(JSON.stringify(index)), pushed.mediaType);
        const classified = await classify([image("3.9-v5", content("5"))], client());
        assert.strictEqual(classified[0].action, "conflict");
        const message = immutableTagConflicts(classified)?.message ?? "";
        assert.match(message, /3\.9-v5: the registry holds an index without a linux\/amd64 image \(manifest sha256:/);
        assert.doesNotMatch(message, /without a truss\.base\.content-digest label/);
    });
});
