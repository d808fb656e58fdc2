// Two writers of one published tag at once (an operator's stack and CI's, say), each with other
// content, through a proxy that delays manifest PUTs and fails some of them with 503 and
// Retry-After, before or after the registry stored them. The Registry API has no conditional
// write; publishTag must still never let both writers report success.
import * as assert from "assert";
import {
    DEFAULT_PLATFORM,
    manifestAnnotation,
    parseManifest,
    publishTag,
    RegistryClient,
    RegistryError,
    TagHeldError,
} from "../../../src/registry";
import { startRegistry, TestRegistry } from "../../support/registry";
import { startRegistryProxy, RegistryProxy } from "../../support/registryProxy";
import { pushImage, rawManifest } from "../../support/registryImages";

const KEY = "truss.base.content-digest";
const TRIALS = 100;
/** Longer than any delay the proxy adds to a PUT (at most 40 ms), so a write that lands late is seen. */
const SETTLE_MS = 250;
/** Caps the proxy's Retry-After (1 s) so that 100 trials stay quick; the wait is still the registry's to ask for. */
const RETRY = { attempts: 4, baseDelayMs: 5, maxDelayMs: 30 };

/** A small seeded generator (mulberry32): the same interleavings on every run. */
function seeded(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

describe("publishTag with two writers of one tag (real registry behind a proxy that delays PUTs and fails some with 503 + Retry-After)", function () {
    this.timeout(180_000);
    let registry: TestRegistry;
    let proxy: RegistryProxy;
    const path = "baseten/truss-server-base";
    const writers = [
        { name: "A", content: `sha256:${"a".repeat(64)}` },
        { name: "B", content: `sha256:${"b".repeat(64)}` },
    ];
    const random = seeded(18);

    before(async () => {
        registry = await startRegistry();
        proxy = await startRegistryProxy({ target: registry.url, random });
        for (const w of writers) await pushImage(registry, path, `build-${w.content.slice(7)}`, { labels: { [KEY]: w.content } });
        const isPut = (r: { method: string; path: string }) => r.method === "PUT" && r.path.includes("/manifests/3.9-race-");
        // A PUT waits 0 to 40 ms before the registry sees it; a check waits 0 to 10 ms.
        proxy.delays.push({ match: isPut, ms: () => Math.floor(random() * 40) });
        proxy.delays.push({
            match: (r) => r.method === "GET" && r.path.includes("/manifests/3.9-race-"),
            ms: () => Math.floor(random() * 10),
        });
        // 25% of PUTs are refused with 503 before the registry sees them, 15% stored and then answered with 503.
        const busy = { status: 503, headers: { "retry-after": "1" }, body: '{"errors":[{"code":"UNAVAILABLE"}]}', times: Infinity };
        proxy.faults.push({ ...busy, match: isPut, chance: 0.25 });
        proxy.faults.push({ ...busy, match: isPut, chance: 0.2, afterForwarding: true });
    });
    after(async () => {
        await proxy?.stop();
        await registry?.stop();
    });

    it(`${TRIALS} trials: never do both report success; the tag ends with the content of the writer that succeeded, or, when both failed, nothing is written`, async () => {
        const wins: Record<string, number> = { A: 0, B: 0 };
        let bothFailed = 0;
        let faultsAfterStore = 0;
        for (let trial = 0; trial < TRIALS; trial++) {
            const tag = `3.9-race-${trial}`;
            const offset = Math.floor(random() * 20);
            const outcomes = await Promise.allSettled(
                writers.map(async (w, i) => {
                    if (i === 1) await new Promise((resolve) => setTimeout(resolve, offset));
                    const client = new RegistryClient({ server: proxy.host, retry: RETRY, writeSettleMs: SETTLE_MS });
                    return publishTag(client, {
                        repository: `${proxy.host}/${path}`,
                        tag,
                        source: `build-${w.content.slice(7)}`,
                        content: { key: KEY, digest: w.content },
                        platform: DEFAULT_PLATFORM,
                        overwrite: false,
                    });
                }),
            );
            const served = await rawManifest(registry, path, tag);
            const succeeded = outcomes.flatMap((o, i) => (o.status === "fulfilled" ? [{ writer: writers[i], result: o.value }] : []));
            for (const o of outcomes) {
                if (o.status === "rejected") {
                    assert.ok(o.reason instanceof RegistryError, `trial ${trial}: a failure that is not a RegistryError: ${o.reason}`);
                    assert.ok(
                        o.reason instanceof TagHeldError || o.reason.kind === "server",
                        `trial ${trial}: a writer failed with ${o.reason.kind}: ${o.reason.message}`,
                    );
                }
            }
            assert.notStrictEqual(succeeded.length, 2, `trial ${trial}: both writers reported success; the tag holds ${served?.digest}`);
            if (succeeded.length === 1) {
                const [{ writer, result }] = succeeded;
                assert.ok(served, `trial ${trial}: ${writer.name} reported success but the tag is absent`);
                assert.strictEqual(
                    served.digest,
                    result.digest,
                    `trial ${trial}: ${writer.name} reported ${result.digest}, the tag holds ${served.digest}`,
                );
                assert.strictEqual(manifestAnnotation(parseManifest(served.bytes, served.mediaType), KEY), writer.content);
                assert.strictEqual(result.written, true);
                wins[writer.name]++;
            } else {
                assert.strictEqual(served, undefined, `trial ${trial}: both writers failed, but the tag holds ${served?.digest}`);
                bothFailed++;
            }
        }
        faultsAfterStore = proxy.requests.filter((r) => r.afterForwarding).length;
        const faultsBefore = proxy.requests.filter((r) => r.faulted && !r.afterForwarding).length;
        console.log(
            `      ${TRIALS} trials: A won ${wins.A}, B won ${wins.B}, both failed ${bothFailed}, both succeeded 0 ` +
                `(${faultsBefore} PUTs refused with 503, ${faultsAfterStore} stored and then answered with 503)`,
        );
        assert.strictEqual(wins.A + wins.B + bothFailed, TRIALS);
        // The proxy's faults happened, in both kinds: the trials exercised the retries.
        assert.ok(faultsBefore > 0 && faultsAfterStore > 0);
    });

    it("when every PUT of both writers is refused with 503, both fail cleanly (after their retries, each checking the tag first) and nothing is written", async () => {
        const refuseAll = {
            match: (r: { method: string; path: string }) => r.method === "PUT" && r.path.includes("/manifests/3.9-refused"),
            status: 503,
            headers: { "retry-after": "1" },
            times: Infinity,
        };
        proxy.faults.unshift(refuseAll);
        try {
            const outcomes = await Promise.allSettled(
                writers.map((w) =>
                    publishTag(new RegistryClient({ server: proxy.host, retry: RETRY, writeSettleMs: SETTLE_MS }), {
                        repository: `${proxy.host}/${path}`,
                        tag: "3.9-refused",
                        source: `build-${w.content.slice(7)}`,
                        content: { key: KEY, digest: w.content },
                        platform: DEFAULT_PLATFORM,
                        overwrite: false,
                    }),
                ),
            );
            for (const o of outcomes) {
                assert.strictEqual(o.status, "rejected");
                assert.ok(o.reason instanceof RegistryError && o.reason.kind === "server", String(o.reason));
                assert.match(o.reason.message, /HTTP 503 while writing a manifest/);
            }
            assert.strictEqual(await rawManifest(registry, path, "3.9-refused"), undefined);
            const puts = proxy.requests.filter((r) => r.method === "PUT" && r.path.includes("/manifests/3.9-refused"));
            assert.strictEqual(puts.length, 2 * RETRY.attempts, "each writer sent its PUT once per attempt");
        } finally {
            proxy.faults.splice(proxy.faults.indexOf(refuseAll), 1);
        }
    });
});
