import * as assert from "assert";
import * as http from "http";
import type { AddressInfo } from "net";
import { UserError } from "../../../src/errors";
import { MEDIA_TYPES, RegistryClient, RegistryError } from "../../../src/registry";
import { startRegistry, TestRegistry } from "../../support/registry";
import { pushImage, rawManifest } from "../../support/registryImages";
import { startRegistryProxy, RegistryProxy } from "../../support/registryProxy";

const FAST_RETRY = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 };

async function rejects(p: Promise<unknown>, check: (e: RegistryError) => void): Promise<RegistryError> {
    try {
        await p;
    } catch (e) {
        assert.ok(e instanceof RegistryError, `expected a RegistryError, got ${(e as Error)?.stack ?? e}`);
        check(e);
        return e;
    }
    assert.fail("expected the call to fail");
}

describe("RegistryClient against a real registry", function () {
    let registry: TestRegistry;
    let client: RegistryClient;
    const repo = () => `${registry.host}/baseten/truss-server-base`;

    before(async () => {
        registry = await startRegistry();
    });
    after(async () => registry?.stop());
    beforeEach(() => {
        client = new RegistryClient({ server: registry.host, retry: FAST_RETRY });
    });

    it("lists no tags for a repository that does not exist yet (404 means nothing published)", async () => {
        assert.deepStrictEqual(await client.listTags(`${registry.host}/baseten/never-pushed`), []);
        assert.strictEqual(await client.getManifest(`${registry.host}/baseten/never-pushed`, "3.9-v1"), undefined);
        assert.strictEqual(await client.headManifest(`${registry.host}/baseten/never-pushed`, "3.9-v1"), undefined);
    });

    for (const format of ["docker", "oci"] as const) {
        it(`reads a ${format} manifest byte for byte and the labels of its config`, async () => {
            const pushed = await pushImage(registry, "baseten/truss-server-base", `${format}-plain`, {
                labels: { "truss.base.content-digest": `sha256:${format}` },
                format,
            });
            const m = await client.getManifest(repo(), `${format}-plain`);
            assert.ok(m && m.kind === "image");
            assert.strictEqual(m.mediaType, format === "docker" ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest);
            assert.strictEqual(m.digest, pushed.digest);
            assert.ok(m.bytes.equals(pushed.bytes));
            const config = await client.getImageConfig(repo(), m);
            assert.strictEqual(config?.labels["truss.base.content-digest"], `sha256:${format}`);
            const head = await client.headManifest(repo(), `${format}-plain`);
            assert.deepStrictEqual(head, { digest: pushed.digest, mediaType: m.mediaType, size: pushed.bytes.length });
        });

        it(`reads the linux/amd64 entry of a ${format} index, not the attestation beside it`, async () => {
            const pushed = await pushImage(registry, "baseten/truss-server-base", `${format}-index`, {
                labels: { "truss.base.content-digest": `sha256:${format}-index` },
                format,
                index: true,
            });
            const m = await client.getManifest(repo(), `${format}-index`);
            assert.ok(m && m.kind === "index");
            assert.strictEqual(m.mediaType, format === "docker" ? MEDIA_TYPES.dockerManifestList : MEDIA_TYPES.ociIndex);
            assert.strictEqual(m.digest, pushed.digest);
            const config = await client.getImageConfig(repo(), m);
            assert.strictEqual(config?.labels["truss.base.content-digest"], `sha256:${format}-index`);
            assert.strictEqual(await client.getImageConfig(repo(), m, "linux/arm64"), undefined, "no arm64 entry");
        });

        it(`copies a ${format} index to a new tag: same bytes, same media type, same digest`, async () => {
            const pushed = await pushImage(registry, "baseten/truss-server-base", `${format}-src`, {
                labels: { a: format },
                format,
                index: true,
            });
            const copied = await client.copyTag(repo(), `${format}-src`, `${format}-dst`, { expectedDigest: pushed.digest });
            assert.strictEqual(copied.digest, pushed.digest);
            const served = await rawManifest(registry, "baseten/truss-server-base", `${format}-dst`);
            assert.ok(served?.bytes.equals(pushed.bytes), "the new tag serves the source's exact bytes");
            assert.strictEqual(served?.mediaType, pushed.mediaType);
        });
    }

    it("refuses to copy a source that changed since the plan", async () => {
        const pushed = await pushImage(registry, "baseten/truss-server-base", "moving", { labels: { a: "1" } });
        const err = await rejects(client.copyTag(repo(), "moving", "moved", { expectedDigest: "sha256:" + "0".repeat(64) }), (e) => {
            assert.strictEqual(e.kind, "digest-mismatch");
        });
        assert.match(err.message, new RegExp(`now has digest ${pushed.digest}`));
        assert.strictEqual(await rawManifest(registry, "baseten/truss-server-base", "moved"), undefined, "nothing was written");
        await rejects(client.copyTag(repo(), "no-such-tag", "moved"), (e) => assert.strictEqual(e.kind, "not-found"));
    });

    it("counts its requests: one ping, then one per call, config blobs cached by digest", async () => {
        await pushImage(registry, "baseten/truss-training-base", "a", { labels: { x: "1" } });
        const r = `${registry.host}/baseten/truss-training-base`;
        const m = await client.getManifest(r, "a");
        assert.ok(m);
        await client.getImageConfig(r, m);
        await client.getImageConfig(r, m);
        assert.deepStrictEqual(client.stats.byOperation, { ping: 1, token: 0, tags: 0, manifest: 1, blob: 1, "put-manifest": 0 });
        assert.strictEqual(client.stats.requests, 3);
    });

    it("refuses repositories of another registry", async () => {
        await rejects(client.listTags("docker.io/baseten/truss-server-base"), (e) =>
            assert.match(e.message, /not on registry 127\.0\.0\.1/),
        );
    });

    it("reports a stopped registry as unreachable, naming it and what to check", async () => {
        const gone = await startRegistry();
        await gone.stop();
        const c = new RegistryClient({ server: gone.host, retry: FAST_RETRY });
        const err = await rejects(c.listTags(`${gone.host}/baseten/truss-server-base`), (e) => assert.strictEqual(e.kind, "unreachable"));
        assert.match(err.message, new RegExp(`registry ${gone.host.replace(/\./g, "\\.")}`));
        assert.match(err.message, /ECONNREFUSED/);
        assert.match(err.message, /Check registry\.server/);
        assert.strictEqual(c.stats.requests, FAST_RETRY.attempts, "bounded retries");
    });

    it("fails a look-up within registryTimeoutSeconds when the registry never answers, saying nothing came", async () => {
        const sockets = new Set<import("net").Socket>();
        const silent = http.createServer(() => undefined);
        silent.on("connection", (s) => sockets.add(s));
        await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
        try {
            const host = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
            const c = new RegistryClient({ server: host, retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 }, timeoutSeconds: 0.3 });
            const started = Date.now();
            const err = await rejects(c.listTags(`${host}/a/b`), (e) => assert.strictEqual(e.kind, "timeout"));
            // One overall deadline, not one per attempt (the old client waited 4 x 30 s).
            assert.ok(Date.now() - started < 5_000, `failed after ${Date.now() - started} ms`);
            assert.match(
                err.message,
                /no answer from http:\/\/127\.0\.0\.1:\d+\/v2\/ within the 0\.3 s deadline \(registryTimeoutSeconds\): nothing came back/,
            );
        } finally {
            for (const s of sockets) s.destroy();
            await new Promise((r) => silent.close(r));
        }
    });

    it("says the answer stalled when the registry starts answering and then stops, within the deadline", async () => {
        const sockets = new Set<import("net").Socket>();
        const stalling = http.createServer((req, res) => {
            if (req.url === "/v2/") {
                res.writeHead(200, { "content-type": "application/json" });
                res.end("{}");
                return;
            }
            res.writeHead(200, { "content-type": "application/json", "content-length": "100000" });
            res.write('{"name":"a/b","tags":["v1",');
        });
        stalling.on("connection", (s) => sockets.add(s));
        await new Promise<void>((r) => stalling.listen(0, "127.0.0.1", () => r()));
        try {
            const host = `127.0.0.1:${(stalling.address() as AddressInfo).port}`;
            const c = new RegistryClient({ server: host, retry: FAST_RETRY, timeoutSeconds: 0.5 });
            const started = Date.now();
            const err = await rejects(c.listTags(`${host}/a/b`), (e) => assert.strictEqual(e.kind, "timeout"));
            assert.ok(Date.now() - started < 5_000, `failed after ${Date.now() - started} ms`);
            assert.match(
                err.message,
                /the answer from .* stalled: it started \(HTTP 200, 27 bytes of the body\) but did not finish within the 0\.5 s deadline/,
            );
        } finally {
            for (const s of sockets) s.destroy();
            await new Promise((r) => stalling.close(r));
        }
    });

    describe("through a proxy", () => {
        let proxy: RegistryProxy;
        before(async () => {
            proxy = await startRegistryProxy({ target: registry.url, tagPageSize: 3 });
            for (let i = 0; i < 7; i++) await pushImage(registry, "baseten/paged", `t${i}`, { labels: { i: String(i) } });
        });
        after(async () => proxy?.stop());
        beforeEach(() => {
            proxy.requests.length = 0;
            proxy.faults.length = 0;
        });
        const proxied = () => new RegistryClient({ server: proxy.host, retry: FAST_RETRY });

        it("follows Link headers through every page of a tag list (the registry's n parameter)", async () => {
            const c = proxied();
            const tags = await c.listTags(`${proxy.host}/baseten/paged`, { pageSize: 2 });
            assert.deepStrictEqual([...tags].sort(), ["t0", "t1", "t2", "t3", "t4", "t5", "t6"]);
            const pages = proxy.requests.filter((r) => r.path.includes("/tags/list"));
            assert.deepStrictEqual(
                pages.map((r) => r.path),
                [
                    "/v2/baseten/paged/tags/list?n=2",
                    "/v2/baseten/paged/tags/list?n=2&last=t1",
                    "/v2/baseten/paged/tags/list?n=2&last=t3",
                    "/v2/baseten/paged/tags/list?n=2&last=t5",
                ],
            );
            // Without n, the registry's own page size applies and is followed just the same.
            assert.strictEqual((await c.listTags(`${proxy.host}/baseten/paged`)).length, 7);
        });

        it("retries a 429 twice, honouring Retry-After, then succeeds", async () => {
            proxy.faults.push({
                match: (r) => r.path.includes("/tags/list"),
                status: 429,
                headers: { "retry-after": "0" },
                body: '{"errors":[{"code":"TOOMANYREQUESTS"}]}',
                times: 2,
            });
            const c = new RegistryClient({ server: proxy.host, retry: { attempts: 4, baseDelayMs: 5_000, maxDelayMs: 10_000 } });
            const started = Date.now();
            assert.strictEqual((await c.listTags(`${proxy.host}/baseten/paged`, { pageSize: 100 })).length, 7);
            assert.ok(Date.now() - started < 2_000, "Retry-After: 0 was honoured instead of the 5 s backoff");
            const tagRequests = proxy.requests.filter((r) => r.path.includes("/tags/list"));
            assert.deepStrictEqual(
                tagRequests.map((r) => r.faulted),
                [true, true, false],
            );
            assert.strictEqual(c.stats.byOperation.tags, 3);
        });

        it("caps a long Retry-After at the policy's maximum delay", async () => {
            proxy.faults.push({ match: (r) => r.path.includes("/tags/list"), status: 429, headers: { "retry-after": "3600" }, times: 1 });
            const c = new RegistryClient({ server: proxy.host, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 100 } });
            const started = Date.now();
            await c.listTags(`${proxy.host}/baseten/paged`);
            assert.ok(Date.now() - started < 3_000);
        });

        it("gives up on 429 after its retry budget with a rate-limit error", async () => {
            proxy.faults.push({
                match: (r) => r.path.includes("/tags/list"),
                status: 429,
                headers: { "retry-after": "0" },
                times: Infinity,
            });
            const c = proxied();
            const err = await rejects(c.listTags(`${proxy.host}/baseten/paged`), (e) => {
                assert.strictEqual(e.kind, "rate-limited");
                assert.strictEqual(e.context.status, 429);
            });
            assert.match(err.message, /repository baseten\/paged: HTTP 429 while listing tags/);
            assert.strictEqual(proxy.requests.filter((r) => r.path.includes("/tags/list")).length, FAST_RETRY.attempts);
        });

        it("retries 5xx, then succeeds", async () => {
            proxy.faults.push({ match: (r) => r.path.includes("/manifests/t1"), status: 503, times: 2 });
            const m = await proxied().getManifest(`${proxy.host}/baseten/paged`, "t1");
            assert.ok(m);
        });

        it("reports malformed JSON clearly", async () => {
            proxy.faults.push({ match: (r) => r.path.includes("/tags/list"), status: 200, body: "<html>oops</html>", times: 1 });
            const err = await rejects(proxied().listTags(`${proxy.host}/baseten/paged`), (e) => assert.strictEqual(e.kind, "malformed"));
            assert.match(
                err.message,
                /repository baseten\/paged: HTTP 200 while listing tags: the answer is not the JSON object it should be \(17 bytes, content type "[^"]*"; the content is not shown\)/,
            );
            assert.doesNotMatch(err.message, /oops/, "the answer's content is never quoted");
            proxy.faults.push({
                match: (r) => r.path.includes("/manifests/t2"),
                status: 200,
                headers: { "content-type": MEDIA_TYPES.ociManifest },
                body: '{"schemaVersion": 2, "config": ',
                times: 1,
            });
            const err2 = await rejects(proxied().getManifest(`${proxy.host}/baseten/paged`, "t2"), (e) =>
                assert.strictEqual(e.kind, "malformed"),
            );
            assert.match(err2.message, /tag t2: HTTP 200 while reading a manifest: the manifest is not valid JSON/);
        });

        it("talks to registry-1.docker.io for docker.io (the Docker Hub API host)", async () => {
            const seen: string[] = [];
            const toLoopback: typeof fetch = (input, init) => {
                const url = new URL(String(input));
                seen.push(url.origin);
                return fetch(`${proxy.url}${url.pathname}${url.search}`, init);
            };
            const hub = new RegistryClient({ server: "docker.io", fetch: toLoopback, retry: FAST_RETRY });
            assert.strictEqual((await hub.listTags("docker.io/baseten/paged", { pageSize: 100 })).length, 7);
            assert.deepStrictEqual([...new Set(seen)], ["https://registry-1.docker.io"]);
        });
    });
});

describe("RegistryError", () => {
    it("is a UserError, so that callers print its message without a stack", () => {
        const e = new RegistryError("unauthorized", { registry: "docker.io" }, "registry docker.io: HTTP 401");
        assert.ok(e instanceof UserError && e instanceof Error);
        assert.strictEqual(e.message, "registry docker.io: HTTP 401");
        assert.strictEqual(e.name, "RegistryError");
    });
});
