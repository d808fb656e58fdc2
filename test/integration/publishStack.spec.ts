// The program's publish plan against a real registry: what the stack declares for each action.
import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { loadCatalog } from "../../src/images/catalog";
import { parseStackConfig, SECRET_PRESENT } from "../../src/config/stackConfig";
import { LABELS } from "../../src/images/labels";
import { planImages } from "../../src/publish/plannedImages";
import { mockOutputs, recorded, resetMocks, valueOf } from "../support/pulumiMocks";
import { startRegistry, TestRegistry } from "../support/registry";
import { pushImage, rawManifest } from "../support/registryImages";
import { committedRawConfig } from "../support/fixtures";
import { declareMockStackFromRegistry, FAKE_PASSWORD, flatConfig } from "../support/stacks";

const IMAGE = "docker:index/image:Image";
const REGISTRY_TAG = "pulumi-nodejs:dynamic/truss-base-images:RegistryTag";
/** What the mocked RegistryTag reports it wrote (the real one is tested against a registry in registryTag.spec.ts). */
const WRITTEN = `sha256:${"ef".repeat(32)}`;
const mockTagWrites = () => mockOutputs(REGISTRY_TAG, () => ({ digest: WRITTEN }));
const PUSHED = `sha256:${"cd".repeat(32)}`;

describe("the stack's publish plan, from a real registry", function () {
    this.timeout(60_000);
    let registry: TestRegistry;
    let namespace = 0;
    before(async () => {
        registry = await startRegistry();
    });
    after(async () => {
        await registry?.stop();
    });

    /** The dev stack as committed, publishing to the test registry under a namespace of its own. */
    function overrides(versionTag: string, ns: string, extra: Record<string, unknown> = {}) {
        return {
            "truss-base-images:versionTag": versionTag,
            "truss-base-images:registry": { server: registry.host, namespace: ns },
            ...extra,
        };
    }

    /** Publishes, through the registry API, an image for every image of the dev plan at this version. */
    async function publish(ns: string, versionTag: string): Promise<Map<string, string>> {
        const catalog = loadCatalog();
        const raw = {
            ...committedRawConfig("dev"),
            versionTag,
            registry: { server: registry.host, namespace: ns },
            registryPassword: SECRET_PRESENT,
        };
        const digests = new Map<string, string>();
        for (const image of planImages(parseStackConfig(raw, catalog, "test"), catalog)) {
            const pushed = await pushImage({ url: registry.url }, image.repository.slice(registry.host.length + 1), image.tag, {
                labels: { [LABELS.contentDigest]: image.contentDigest },
                layerText: image.reference,
            });
            digests.set(image.reference, pushed.digest);
        }
        return digests;
    }

    const declaredImages = () => recorded().filter((r) => r.type === IMAGE);
    const declaredTags = () => recorded().filter((r) => r.type === REGISTRY_TAG);

    it("empty registry: every image is a docker.Image pushed to its staging tag, then a RegistryTag writes the tag from it", async () => {
        const ns = `stack${++namespace}`;
        const stack = await declareMockStackFromRegistry("dev", { withPassword: false, overrides: overrides("v1.0.0", ns) });
        mockOutputs(IMAGE, (args) => ({ repoDigest: `${String(args.inputs.imageName).replace(/:[^:/]+$/, "")}@${PUSHED}` }));
        mockTagWrites();
        const out = await valueOf(stack.output);
        assert.equal(declaredImages().length, 4);
        assert.equal(declaredTags().length, 4);
        for (const t of declaredTags()) {
            const planned = stack.plan.find((p) => p.repository === t.inputs.repository && p.tag === t.inputs.tag)!;
            assert.equal(t.inputs.source, `${planned.repository}:build-${planned.contentDigest.slice(7)}`);
            assert.equal(t.inputs.sourceDigest, PUSHED, "the staging tag must still hold what the push reported");
        }
        for (const [reference, entry] of Object.entries(out)) {
            assert.equal(entry.action, "build", reference);
            assert.equal(entry.digest, WRITTEN, "the digest the published tag got");
        }
    });

    it("everything published: no docker.Image at all, and the tags are declared at their published digests", async () => {
        const ns = `stack${++namespace}`;
        const published = await publish(ns, "v1.0.0");
        const stack = await declareMockStackFromRegistry("dev", { withPassword: false, overrides: overrides("v1.0.0", ns) });
        const out = await valueOf(stack.output);
        // The output does not wait for unchanged tags (their digest is the plan's): wait for their registration.
        await Promise.all(Object.values(stack.tags).map((t) => valueOf(t.urn)));
        assert.equal(declaredImages().length, 0, "unchanged images are never rebuilt");
        assert.equal(declaredTags().length, 4);
        for (const [reference, entry] of Object.entries(out)) {
            assert.deepEqual(entry, {
                contentDigest: stack.plan.find((p) => p.reference === reference)!.contentDigest,
                digest: published.get(reference),
                action: "unchanged",
            });
        }
        for (const t of declaredTags()) assert.equal(t.inputs.source, undefined);
    });

    it("a version bump with no content change re-tags every image from the previous version: zero builds", async () => {
        const ns = `stack${++namespace}`;
        const published = await publish(ns, "v1.0.0");
        const stack = await declareMockStackFromRegistry("dev", { withPassword: false, overrides: overrides("v1.0.1", ns) });
        mockTagWrites();
        const out = await valueOf(stack.output);
        assert.equal(declaredImages().length, 0);
        for (const [reference, entry] of Object.entries(out)) {
            const source = reference.replace("-v1.0.1", "-v1.0.0");
            assert.equal(entry.action, "retag");
            assert.equal(entry.source, source);
            assert.equal(entry.digest, WRITTEN);
        }
        assert.equal(declaredTags().length, 4);
        for (const t of declaredTags()) {
            assert.equal(String(t.inputs.source).endsWith("-v1.0.0"), true);
            assert.equal(t.inputs.sourceDigest, published.get(String(t.inputs.source)), "the source must still hold the planned manifest");
            assert.equal(String(t.inputs.tag).endsWith("-v1.0.1"), true);
        }
    });

    it("under immutableTags, a conflicting tag stops the program before anything is declared, naming the tag and both digests", async () => {
        const ns = `stack${++namespace}`;
        await pushImage({ url: registry.url }, `${ns}/truss-training-base`, "3.9-gpu-v2.0.0", {
            labels: { [LABELS.contentDigest]: `sha256:${"0".repeat(64)}` },
            layerText: "other content",
        });
        await assert.rejects(
            declareMockStackFromRegistry("dev", {
                withPassword: false,
                overrides: overrides("v2.0.0", ns, { "truss-base-images:immutableTags": true }),
            }),
            (e: Error) => {
                assert.ok(pulumi.RunError.isInstance(e));
                assert.match(
                    e.message,
                    new RegExp(
                        `${registry.host}/${ns}/truss-training-base:3\\.9-gpu-v2\\.0\\.0: the registry holds content digest sha256:0{64}`,
                    ),
                );
                assert.match(e.message, /this stack would publish content digest sha256:[0-9a-f]{64}/);
                assert.match(e.message, /Bump versionTag/);
                return true;
            },
        );
        assert.equal(recorded().length, 0);
        const manifest = await rawManifest({ url: registry.url }, `${ns}/truss-training-base`, "3.9-gpu-v2.0.0");
        assert.ok(manifest, "the published tag is left as it was");
    });

    it("without immutableTags (dev), the conflicting image is rebuilt and the others are left alone", async () => {
        const ns = `stack${++namespace}`;
        await publish(ns, "v3.0.0");
        await pushImage({ url: registry.url }, `${ns}/truss-server-base`, "3.9-v3.0.0", {
            labels: { [LABELS.contentDigest]: `sha256:${"1".repeat(64)}` },
            layerText: "overwritten by hand",
        });
        const stack = await declareMockStackFromRegistry("dev", { withPassword: false, overrides: overrides("v3.0.0", ns) });
        mockOutputs(IMAGE, (args) => ({ repoDigest: `${String(args.inputs.imageName).replace(/:[^:/]+$/, "")}@${PUSHED}` }));
        const out = await valueOf(stack.output);
        const rebuilt = stack.plan.find((p) => p.reference === `${registry.host}/${ns}/truss-server-base:3.9-v3.0.0`)!;
        assert.deepEqual(
            declaredImages().map((r) => r.inputs.imageName),
            [`${rebuilt.repository}:build-${rebuilt.contentDigest.slice(7)}`],
        );
        const tag = declaredTags().find((t) => t.inputs.tag === "3.9-v3.0.0")!;
        assert.equal(tag.inputs.immutable, false, "dev may overwrite it; prod never would");
        assert.equal(out[`${registry.host}/${ns}/truss-server-base:3.9-v3.0.0`].action, "conflict");
        assert.equal(Object.values(out).filter((e) => e.action === "unchanged").length, 3);
    });

    it("a stopped registry stops the program with one clear error", async () => {
        await assert.rejects(
            declareMockStackFromRegistry("dev", {
                withPassword: false,
                overrides: overrides("v1", "down", { "truss-base-images:registry": { server: "127.0.0.1:9", namespace: "down" } }),
            }),
            (e: Error) => pulumi.RunError.isInstance(e) && /registry 127\.0\.0\.1:9.*unreachable/.test(e.message),
        );
        assert.equal(recorded().length, 0);
    });

    it("reads a registry that needs a password with the stack's secret registryPassword", async () => {
        const locked = await startRegistry({ auth: "htpasswd", users: [{ username: "basetenservice", password: FAKE_PASSWORD }] });
        try {
            const stack = await declareMockStackFromRegistry("dev", {
                overrides: overrides("v1", "locked", {
                    "truss-base-images:registry": { server: locked.host, namespace: "locked", username: "basetenservice" },
                }),
            });
            assert.equal(stack.plan.length, 4);
            assert.ok(stack.plan.every((p) => p.action === "build"));
        } finally {
            await locked.stop();
        }
    });

    it("index.ts, the program Pulumi runs, declares the dev stack from the registry and exports images", async () => {
        const ns = `stack${++namespace}`;
        const published = await publish(ns, "v4.0.0");
        resetMocks({ config: flatConfig("dev", overrides("v4.0.1", ns)), stack: "dev" });
        mockOutputs(REGISTRY_TAG, (args) => ({ digest: args.inputs.sourceDigest }));
        const program = require("../../index") as () => Promise<{
            images: pulumi.Output<Record<string, { action: string; digest: string; source?: string }>>;
        }>;
        const out = await valueOf((await program()).images);
        assert.equal(Object.keys(out).length, 4);
        for (const [reference, entry] of Object.entries(out)) {
            const source = reference.replace("-v4.0.1", "-v4.0.0");
            // The mocked RegistryTag reports the source's digest as the one it wrote.
            assert.deepEqual([entry.action, entry.source, entry.digest], ["retag", source, published.get(source)]);
        }
        assert.equal(declaredImages().length, 0);
    });

    it("push: false asks no registry and builds every image", async () => {
        const stack = await declareMockStackFromRegistry("dev", {
            withPassword: false,
            overrides: overrides("v1", "off", {
                "truss-base-images:registry": { server: "127.0.0.1:9", namespace: "off" },
                "truss-base-images:push": false,
            }),
        });
        mockOutputs(IMAGE, () => ({ repoDigest: PUSHED }));
        await valueOf(stack.output);
        assert.equal(declaredImages().length, 4);
        assert.equal(declaredTags().length, 0, "nothing is published, so there is no tag to check");
    });
});
