// The dev stack with two platforms, declared (under Pulumi's mocks) from a real registry's
// answers: what it declares for tags that hold the wanted indexes, for a version bump, and after
// a partial failure (one platform staged, the other not).
import { strict as assert } from "assert";
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { loadCatalog } from "../../../src/images/catalog";
import { parseStackConfig, SECRET_PRESENT } from "../../../src/config/stackConfig";
import { LABELS } from "../../../src/images/labels";
import { estargzStagingTag, smokedStagingTag, stagingTag } from "../../../src/images/naming";
import { planImages, PlannedImage } from "../../../src/publish/plannedImages";
import { classify } from "../../../src/publish/classify";
import { publishIndex, RegistryClient } from "../../../src/registry";
import { committedRawConfig } from "../../support/fixtures";
import { recorded, valueOf } from "../../support/pulumiMocks";
import { startRegistry, TestRegistry } from "../../support/registry";
import { pushImage } from "../../support/registryImages";
import { declareMockStackFromRegistry } from "../../support/stacks";
import { loadSerialized } from "../../support/dynamicProviders";

const IMAGE = "docker:index/image:Image";
const INDEX = "pulumi-nodejs:dynamic/truss-base-images:RegistryIndex";
const TAG = "pulumi-nodejs:dynamic/truss-base-images:RegistryTag";
const BOTH = ["linux/amd64", "linux/arm64"];
const MATRIX = { jobTypes: ["server", "training"], pythonVersions: ["3.9"], gpu: [false, true], liveReload: [false], platforms: BOTH };

describe("the dev stack with linux/amd64 and linux/arm64, from a real registry", function () {
    this.timeout(90_000);
    let registry: TestRegistry;
    let namespace = 0;
    before(async () => {
        registry = await startRegistry();
    });
    after(async () => registry?.stop());

    const overrides = (versionTag: string, ns: string, extra: Record<string, unknown> = {}) => ({
        "truss-base-images:versionTag": versionTag,
        "truss-base-images:registry": { server: registry.host, namespace: ns },
        "truss-base-images:matrix": MATRIX,
        ...extra,
    });

    function plan(ns: string, versionTag: string, parents: Record<string, string> = {}): PlannedImage[] {
        const catalog = loadCatalog();
        const raw = {
            ...committedRawConfig("dev"),
            versionTag,
            registry: { server: registry.host, namespace: ns },
            registryPassword: SECRET_PRESENT,
            matrix: MATRIX,
            parents,
        };
        return planImages(parseStackConfig(raw, catalog, "test"), catalog);
    }

    /**
     * Stages each platform image of the plan (as builds would), some platforms only, each also
     * under its smoked staging tag (as a passed smoke test leaves it) unless `smoked` is false,
     * and optionally publishes each tag's index.
     */
    async function stage(images: PlannedImage[], platforms: string[], index: boolean, smoked = true): Promise<Map<string, string>> {
        const client = new RegistryClient({ server: registry.host, writeSettleMs: 0 });
        const digests = new Map<string, string>();
        for (const image of images) {
            const path = image.repository.slice(registry.host.length + 1);
            const entries = [];
            for (const p of image.platforms.filter((x) => platforms.includes(x.platform))) {
                const seed = {
                    labels: { [LABELS.contentDigest]: p.contentDigest },
                    architecture: p.platform.split("/")[1],
                    layerText: `${image.reference} ${p.platform}`,
                };
                const pushed = await pushImage({ url: registry.url }, path, p.finalStagingTag, seed);
                if (smoked) await pushImage({ url: registry.url }, path, smokedStagingTag(p.contentDigest), seed);
                entries.push({ platform: p.platform, digest: pushed.digest });
                digests.set(`${image.reference} ${p.platform}`, pushed.digest);
            }
            if (index)
                digests.set(
                    image.reference,
                    (
                        await publishIndex(client, {
                            repository: image.repository,
                            tag: image.tag,
                            entries,
                            content: { key: LABELS.contentDigest, digest: image.contentDigest },
                        })
                    ).digest,
                );
        }
        return digests;
    }

    const declared = (type: string) => recorded().filter((r) => r.type === type);

    it("tags holding the wanted indexes: nothing is built, each tag's index step holds its content digest, the output its published digest", async () => {
        const ns = `multi${++namespace}`;
        const planned = plan(ns, "v1");
        const published = await stage(planned, BOTH, true);
        const stack = await declareMockStackFromRegistry("dev", { withPassword: false, overrides: overrides("v1", ns) });
        const out = await valueOf(stack.output);
        // The output of an unchanged tag comes from the plan: wait for the index steps' registration too.
        await valueOf(pulumi.all(Object.values(stack.indexes).map((i) => i.urn)));
        assert.equal(Object.keys(stack.indexes).length, 4);
        assert.equal(declared(IMAGE).length, 0);
        assert.equal(declared(TAG).length, 0);
        assert.equal(declared(INDEX).length, 4);
        for (const r of declared(INDEX)) {
            const image = planned.find((p) => p.repository === r.inputs.repository && p.tag === r.inputs.tag)!;
            assert.deepEqual(r.inputs.entries, []);
            assert.equal(r.inputs.source, undefined, "nothing to copy: the tag already holds it");
            assert.equal(r.inputs.contentDigest, image.contentDigest);
        }
        for (const [reference, entry] of Object.entries(out)) {
            assert.equal(entry.action, "unchanged");
            assert.equal(entry.digest, published.get(reference));
        }
    });

    it("a version bump re-tags every index from the previous version: zero builds", async () => {
        const ns = `multi${++namespace}`;
        await stage(plan(ns, "v1"), BOTH, true);
        const stack = await declareMockStackFromRegistry("dev", { withPassword: false, overrides: overrides("v2", ns) });
        await valueOf(stack.output);
        assert.equal(declared(IMAGE).length, 0);
        for (const r of declared(INDEX)) {
            assert.equal(String(r.inputs.source), `${r.inputs.repository}:${String(r.inputs.tag).replace("-v2", "-v1")}`);
        }
        for (const image of stack.plan) assert.equal(image.action, "retag");
    });

    it("after a partial failure (amd64 staged, arm64 not), only arm64 is built: on this daemon if it can emulate arm64, else one error saying how", async () => {
        const ns = `multi${++namespace}`;
        const parents = { "python:3.9": "python:3.9-bookworm" };
        const staged = await stage(plan(ns, "v1", parents), ["linux/amd64"], false);
        const classified = await classify(plan(ns, "v1", parents), new RegistryClient({ server: registry.host }));
        for (const image of classified) {
            assert.equal(image.action, "build");
            assert.deepEqual(image.stagedDigests, { "linux/amd64": staged.get(`${image.reference} linux/amd64`) });
        }
        const binfmt = fs.existsSync("/proc/sys/fs/binfmt_misc") ? fs.readdirSync("/proc/sys/fs/binfmt_misc") : [];
        const declare = () =>
            declareMockStackFromRegistry("dev", {
                withPassword: false,
                overrides: overrides("v1", ns, { "truss-base-images:parents": parents }),
            });
        if (process.arch === "x64" && !binfmt.includes("qemu-aarch64")) {
            await assert.rejects(declare(), (e: Error) => {
                assert.match(e.message, /asks for linux\/arm64, and builders\.mode is local/);
                assert.match(e.message, /qemu-user-static/);
                return true;
            });
            return;
        }
        const stack = await declare();
        assert.ok(declared(IMAGE).length > 0);
        for (const r of declared(IMAGE)) assert.equal((r.inputs.build as { platform: string }).platform, "linux/arm64");
        for (const image of stack.plan) assert.deepEqual(Object.keys(image.stagedDigests ?? {}), ["linux/amd64"]);
    });

    it("prod's platforms with gzip (ec2, mocks): an image in its staging tag without its smoked staging tag gets its smoke test declared again; once SmokedStagingTag wrote the smoked tag, none", async () => {
        const ns = `smoked${++namespace}`;
        const declare = () =>
            declareMockStackFromRegistry("prod", {
                overrides: {
                    "truss-base-images:registry": { server: registry.host, namespace: ns, username: "basetenservice" },
                    "truss-base-images:compression": "gzip",
                },
            });
        const smokeTests = (stack: { declared: readonly { type: string; name: string }[] }) =>
            stack.declared.filter((r) => r.type === "pulumi-nodejs:dynamic/truss-base-images:SmokeTest").map((r) => r.name);
        const first = await declare();
        const planned = first.plan;
        assert.equal(smokeTests(first).length, 2 * planned.length, "nothing staged: every platform image is built and tested");

        // A run pushed every amd64 image to its staging tag, and then its smoke test failed (or the run stopped).
        const pushed = new Map<string, string>();
        for (const image of planned) {
            const p = image.platforms.find((x) => x.platform === "linux/amd64")!;
            const seed = { labels: { [LABELS.contentDigest]: p.contentDigest }, layerText: `${image.reference} amd64` };
            const m = await pushImage({ url: registry.url }, image.repository.slice(registry.host.length + 1), p.finalStagingTag, seed);
            pushed.set(image.reference, m.digest);
        }
        const unproven = await declare();
        for (const image of unproven.plan) {
            assert.equal(image.action, "build");
            assert.deepEqual(image.stagedDigests, {}, `${image.reference}: a staging tag alone does not count as staged`);
        }
        for (const image of planned) {
            assert.ok(
                smokeTests(unproven).includes(`${image.resourceName}-amd64-smoke`),
                `${image.reference}: the amd64 image is tested again`,
            );
        }
        assert.equal(smokeTests(unproven).length, 2 * planned.length);

        // The smoke tests pass this time: SmokedStagingTag (the provider, against the registry) marks each amd64 image.
        const provider = await loadSerialized("SmokedStagingTag");
        for (const image of planned) {
            const p = image.platforms.find((x) => x.platform === "linux/amd64")!;
            await provider.create({
                repository: image.repository,
                sourceDigest: pushed.get(image.reference),
                tag: smokedStagingTag(p.contentDigest),
            });
        }
        const proven = await declare();
        for (const image of proven.plan) {
            assert.deepEqual(image.stagedDigests, { "linux/amd64": pushed.get(image.reference) });
            assert.ok(!smokeTests(proven).includes(`${image.resourceName}-amd64-smoke`), `${image.reference}: no second smoke test`);
            assert.ok(smokeTests(proven).includes(`${image.resourceName}-arm64-smoke`));
        }
        assert.equal(smokeTests(proven).length, planned.length);
        const builds = proven.declared.filter((r) => r.type === IMAGE);
        assert.equal(builds.length, planned.length, "only the arm64 images are built");
        for (const r of builds) assert.equal(r.props.build.platform, "linux/arm64");
    });

    it("prod as committed (eStargz, ec2, mocks): an image under build-<hex> or build-<hex>-smoked alone gets its smoke test declared again; once its conversion wrote build-<hex>-estargz, none, and no SmokedStagingTag is declared", async () => {
        const ns = `estargz${++namespace}`;
        const declare = () =>
            declareMockStackFromRegistry("prod", {
                overrides: { "truss-base-images:registry": { server: registry.host, namespace: ns, username: "basetenservice" } },
            });
        const ofType = (stack: { declared: readonly { type: string; name: string }[] }, kind: string) =>
            stack.declared.filter((r) => r.type === `pulumi-nodejs:dynamic/truss-base-images:${kind}`).map((r) => r.name);
        const first = await declare();
        const planned = first.plan;
        assert.equal(ofType(first, "SmokeTest").length, 2 * planned.length, "nothing staged: every platform image is built and tested");
        assert.equal(ofType(first, "SmokedStagingTag").length, 0, "eStargz: the conversion's tag is the proof");
        assert.equal(ofType(first, "EstargzImage").length, 2 * planned.length);

        // A run pushed every amd64 image (gzip staging tag), and then its smoke test failed; or an
        // earlier version left a -smoked tag: neither is the eStargz proof.
        const amd64 = (image: PlannedImage) => image.platforms.find((x) => x.platform === "linux/amd64")!;
        const repo = (image: PlannedImage) => image.repository.slice(registry.host.length + 1);
        for (const image of planned) {
            const p = amd64(image);
            const seed = { labels: { [LABELS.contentDigest]: p.contentDigest }, layerText: `${image.reference} amd64` };
            await pushImage({ url: registry.url }, repo(image), stagingTag(p.contentDigest), seed);
            await pushImage({ url: registry.url }, repo(image), smokedStagingTag(p.contentDigest), seed);
        }
        const unproven = await declare();
        for (const image of unproven.plan) {
            assert.equal(image.action, "build");
            assert.deepEqual(image.stagedDigests, {}, `${image.reference}: build-<hex> and build-<hex>-smoked do not count as staged`);
            assert.ok(ofType(unproven, "SmokeTest").includes(`${image.resourceName}-amd64-smoke`), `${image.reference}: tested again`);
        }

        // The smoke test passed and the conversion wrote the -estargz tag (an OCI image, the labels kept).
        const converted = new Map<string, string>();
        for (const image of planned) {
            const p = amd64(image);
            const seed = {
                labels: { [LABELS.contentDigest]: p.contentDigest },
                layerText: `${image.reference} amd64 estargz`,
                format: "oci" as const,
            };
            const m = await pushImage({ url: registry.url }, repo(image), estargzStagingTag(p.contentDigest), seed);
            converted.set(image.reference, m.digest);
        }
        const proven = await declare();
        for (const image of proven.plan) {
            assert.deepEqual(image.stagedDigests, { "linux/amd64": converted.get(image.reference) });
            assert.ok(
                !ofType(proven, "SmokeTest").includes(`${image.resourceName}-amd64-smoke`),
                `${image.reference}: no second smoke test`,
            );
            assert.ok(ofType(proven, "SmokeTest").includes(`${image.resourceName}-arm64-smoke`));
        }
        assert.equal(ofType(proven, "SmokeTest").length, planned.length);
        assert.equal(ofType(proven, "EstargzImage").length, planned.length, "only the arm64 images are converted");
        assert.equal(ofType(proven, "SmokedStagingTag").length, 0);
    });
});
