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
    const client = () =>
        new RegistryClient({ server: registry.host, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 }, writeSettleMs: 20 });
    /**
     * A client whose transport lets `onPut` act around each manifest PUT to `tag`: `before` runs
     * before the registry sees it and may answer instead; `after` runs once the registry answered.
     */
    const intercepted = (
        tag: string,
        onPut: {
            before?: (n: number, send: () => Promise<Response>) => Promise<Response | undefined>;
            after?: (n: number) => Promise<void>;
        },
    ): { client: RegistryClient; puts: () => number } => {
        let puts = 0;
        const f: typeof fetch = async (input, init) => {
            if (init?.method !== "PUT" || !String(input).endsWith(`/manifests/${tag}`)) return fetch(input, init);
            const n = ++puts;
            const instead = await onPut.before?.(n, () => fetch(input, init));
            if (instead) return instead;
            const res = await fetch(input, init);
            await onPut.after?.(n);
            return res;
        };
        const c = new RegistryClient({
            server: registry.host,
            fetch: f,
            retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 20 },
            writeSettleMs: 20,
        });
        return { client: c, puts: () => puts };
    };
    const busy = () => new Response('{"errors":[{"code":"UNAVAILABLE"}]}', { status: 503, headers: { "retry-after": "1" } });
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

    it("a write answered 503 (Retry-After) is not repeated over another writer's tag: the retry reads the tag first and stops with the conflict", async () => {
        const ours = content("c");
        await pushImage(registry, path, `build-${ours.slice(7)}`, { labels: { [KEY]: ours } });
        let theirs: { digest: string } | undefined;
        const { client: c, puts } = intercepted("3.10-v3", {
            before: async () => {
                // While our write is refused, the other writer publishes the tag.
                theirs ??= await pushImage(registry, path, "3.10-v3", { labels: { [KEY]: content("d") } });
                return busy();
            },
        });
        const err = await publishTag(c, request("3.10-v3", `build-${ours.slice(7)}`, ours)).then(
            () => assert.fail("reported success"),
            (e: unknown) => e as TagHeldError,
        );
        assert.ok(err instanceof TagHeldError, String(err));
        assert.match(
            err.message,
            /tag 3\.10-v3: the tag already holds content digest sha256:d{64} .*another writer published it while our write was failing \(HTTP 503\); our write was not repeated, and nothing was written/,
        );
        assert.strictEqual(puts(), 1, "the refused PUT was sent once");
        assert.strictEqual((await rawManifest(registry, path, "3.10-v3"))?.digest, theirs?.digest, "their tag is untouched");
    });

    it("a write the registry refuses (an immutable-tag rule, here a 400) after another writer published: the conflict, not an HTTP error", async () => {
        const ours = content("1");
        await pushImage(registry, path, `build-${ours.slice(7)}`, { labels: { [KEY]: ours } });
        const { client: c, puts } = intercepted("3.10-v6", {
            before: async () => {
                await pushImage(registry, path, "3.10-v6", { labels: { [KEY]: content("2") } });
                return new Response('{"errors":[{"code":"TAG_INVALID","message":"tag is immutable"}]}', { status: 400 });
            },
        });
        await assert.rejects(publishTag(c, request("3.10-v6", `build-${ours.slice(7)}`, ours)), (e: unknown) => {
            assert.ok(e instanceof TagHeldError, String(e));
            assert.match(
                e.message,
                /holds content digest sha256:2{64} .*while our write was failing \(HTTP 400\); our write was not repeated/,
            );
            return true;
        });
        assert.strictEqual(puts(), 1);
    });

    it("a write stored but answered 503 is not sent again: the re-read finds our manifest, which is then confirmed", async () => {
        const ours = content("e");
        await pushImage(registry, path, `build-${ours.slice(7)}`, { labels: { [KEY]: ours } });
        const { client: c, puts } = intercepted("3.10-v4", {
            // The registry stores the first PUT, but its answer is lost: the client hears a 503.
            before: async (n, send) => {
                if (n > 1) return undefined;
                await (await send()).arrayBuffer();
                return busy();
            },
        });
        const result = await publishTag(c, request("3.10-v4", `build-${ours.slice(7)}`, ours));
        assert.strictEqual(result.written, true);
        assert.strictEqual(puts(), 1, "the stored manifest was not written again");
        assert.strictEqual((await rawManifest(registry, path, "3.10-v4"))?.digest, result.digest);
    });

    it("reports the conflict, not success, when another writer's PUT is stored after ours", async () => {
        const ours = content("f");
        await pushImage(registry, path, `build-${ours.slice(7)}`, { labels: { [KEY]: ours } });
        let theirs: { digest: string } | undefined;
        const { client: c } = intercepted("3.10-v5", {
            // Both found the tag absent; theirs lands right after ours.
            after: async () => void (theirs = await pushImage(registry, path, "3.10-v5", { labels: { [KEY]: content("0") } })),
        });
        const err = await publishTag(c, request("3.10-v5", `build-${ours.slice(7)}`, ours)).then(
            () => assert.fail("reported success"),
            (e: unknown) => e as TagHeldError,
        );
        assert.ok(err instanceof TagHeldError, String(err));
        assert.match(
            err.message,
            /the tag already holds content digest sha256:0{64} .*another writer published the tag at the same time as we did: we wrote sha256:[a-f0-9]{64}, and theirs was stored after ours/,
        );
        assert.strictEqual((await rawManifest(registry, path, "3.10-v5"))?.digest, theirs?.digest);
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
