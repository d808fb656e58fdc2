import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { proofStagingTag } from "../../../src/images/naming";
import { offlinePlan, PublishPlan } from "../../../src/publish/publishPlan";
import { readStackConfig } from "../../../src/pulumi/config";
import { declareStack } from "../../../src/pulumi/stack";
import { estargzScript } from "../../../src/runners/estargz";
import { SshAccess, sshOptions } from "../../../src/runners/ssh";
import { mockAwsLookups } from "../../support/aws";
import { resetMocks, valueOf } from "../../support/pulumiMocks";
import {
    convertedDigestOf,
    DeclaredResource,
    FAKE_PASSWORD,
    fakePushes,
    flatConfig,
    prodAsCommitted,
    PUSHED_DIGEST,
    settle,
} from "../../support/stacks";

const IMAGE = "docker:index/image:Image";
const DYNAMIC = (kind: string) => `pulumi-nodejs:dynamic/truss-base-images:${kind}`;
const BOTH = ["linux/amd64", "linux/arm64"];

interface Declared {
    readonly plan: Pick<PublishPlan, "images">;
    readonly resources: DeclaredResource[];
    readonly output: pulumi.Output<unknown>;
}

/** Declares the committed prod stack (secret faked) with overrides, under mocks, optionally editing its plan. */
function declareProd(overrides: Record<string, unknown>, edit?: (plan: PublishPlan) => PublishPlan): Declared {
    const config = flatConfig("prod", overrides);
    config["truss-base-images:registryPassword"] = FAKE_PASSWORD;
    resetMocks({ config, secretKeys: ["truss-base-images:registryPassword"], stack: "prod" });
    mockAwsLookups();
    fakePushes();
    const stack = readStackConfig();
    let plan = offlinePlan(stack.config, stack.catalog);
    if (edit) plan = edit(plan);
    const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "truss-platforms-"));
    const resources: Declared["resources"] = [];
    const declared = declareStack(stack, plan, projectDir, {
        transformations: [
            (args) => {
                resources.push({
                    type: args.type,
                    name: args.name,
                    props: args.props,
                    opts: args.opts as pulumi.CustomResourceOptions,
                    resource: args.resource,
                });
                return undefined;
            },
        ],
    });
    fs.rmSync(projectDir, { recursive: true, force: true });
    return { plan, resources, output: declared.output };
}

/** prod as committed: the declaration the specs share (test/support/stacks.ts), as this spec reads a declaration. */
async function committedProd(): Promise<Declared> {
    const stack = await prodAsCommitted();
    return { plan: { images: stack.plan }, resources: [...stack.declared], output: stack.output };
}

const providerName = (r: { opts: pulumi.CustomResourceOptions }): Promise<string | undefined> =>
    valueOf((r.opts.provider as pulumi.ProviderResource).urn).then((u) => u.split("::").pop());

const ofType = (d: Declared, type: string, prefix = "") => d.resources.filter((r) => r.type === type && r.name.startsWith(prefix));
const nameOf = (r: pulumi.Resource): string => (r as unknown as { __name: string }).__name;
const dynamic = (d: Declared, kind: "RegistryIndex" | "EstargzImage" | "RegistryTag" | "SmokedStagingTag") =>
    d.resources.filter((r) => r.type === DYNAMIC(kind));

describe("multi-platform stacks (Pulumi mocks)", () => {
    it("an ec2 stack asking for linux/arm64 without an arm64 pool stops with one config error naming builders.arm64", () => {
        const builders = { ...(flatBuilders() as Record<string, unknown>) };
        delete builders.arm64;
        assert.throws(
            () => declareProd({ "truss-base-images:matrix": { ...prodMatrix(), platforms: BOTH }, "truss-base-images:builders": builders }),
            (e: Error) =>
                pulumi.RunError.isInstance(e) && /builders\.arm64: is required: matrix\.platforms includes linux\/arm64/.test(e.message),
        );
    });

    it("prod as committed (eStargz): converts each platform image on the runner that built it, and indexes the converted images", async () => {
        const multi = await committedProd();
        const conversions = dynamic(multi, "EstargzImage");
        assert.equal(conversions.length, 24);
        for (const c of conversions) {
            assert.match(c.props.target, /:build-[a-f0-9]{64}-estargz$/);
            assert.equal(c.props.target, `${c.props.source}-estargz`);
            const endpoint = await valueOf(pulumi.output(c.props.endpoint as { host: string; ssh?: SshAccess }));
            assert.match(endpoint.host, /^ssh:\/\/ubuntu@203\.0\.113\.\d+$/);
            const build = ofType(multi, IMAGE).find((r) => r.props.imageName === c.props.source)!;
            const buildProvider = await providerName(build);
            const docker = multi.resources.find((r) => r.type === "pulumi:providers:docker" && r.name === buildProvider);
            assert.ok(docker);
            assert.equal(endpoint.host, await valueOf(pulumi.output(docker.props.host as string)), "on the runner that built it");
            assert.deepStrictEqual(
                sshOptions(endpoint.ssh ?? {}),
                JSON.parse(await valueOf(pulumi.output(docker.props.sshOpts as string))),
                "dialled as the build was",
            );
            assert.equal(c.props.sudo, true, "containerd's socket is root's on the runners");
            assert.equal(c.props.plainHttp, false, "Docker Hub is reached over https");
            const script = estargzScript({
                source: c.props.source,
                target: c.props.target,
                platform: c.props.platform,
                plainHttp: false,
                sudo: true,
            });
            assert.ok(script.includes(`sudo -n ctr-remote image convert --estargz --oci --platform ${c.props.platform}`));
            assert.ok(!JSON.stringify(endpoint).includes(FAKE_PASSWORD), "the password is no part of the command line");
        }
        const converted = dynamic(multi, "RegistryIndex");
        assert.equal(converted.length, 12);
        for (const index of converted) {
            const deps = (index.opts.dependsOn as pulumi.Resource[]).map(nameOf);
            assert.equal(deps.length, 2);
            // The index waits for each conversion, which waits for its smoke test (the -estargz tag is the proof).
            for (const d of deps)
                assert.ok(
                    conversions.some((c) => c.name === d),
                    `the index waits for a conversion (${deps.join(", ")})`,
                );
            const entries = (await valueOf(pulumi.output(index.props.entries as unknown[]))) as { platform: string; digest: string }[];
            const targets = conversions.filter((c) => deps.includes(c.name));
            assert.deepStrictEqual(
                entries.map((e) => e.digest).sort(),
                targets.map((c) => convertedDigestOf(c.props.target)).sort(),
                "the index lists the converted images",
            );
        }
    });

    it("prod as committed (eStargz): declares no SmokedStagingTag; each conversion, the proof tag build-<hex>-estargz, is written after its image's smoke test, and the index waits for it", async () => {
        const multi = await committedProd();
        assert.equal(dynamic(multi, "SmokedStagingTag").length, 0, "the -estargz tag is the proof: no marker");
        const conversions = dynamic(multi, "EstargzImage");
        const smokeTests = multi.resources.filter((r) => r.type === DYNAMIC("SmokeTest"));
        assert.equal(smokeTests.length, 24);
        for (const item of multi.plan.images) {
            const index = dynamic(multi, "RegistryIndex").find((r) => r.name === `${item.resourceName}-index`)!;
            const waits = (index.opts.dependsOn as pulumi.Resource[]).map(nameOf);
            for (const [arch, p] of [
                ["amd64", item.platforms[0]],
                ["arm64", item.platforms[1]],
            ] as const) {
                assert.equal(proofStagingTag(p.contentDigest, "estargz"), p.finalStagingTag);
                const conversion = conversions.find((c) => c.name === `${item.resourceName}-${arch}-estargz`)!;
                assert.equal(conversion.props.target, `${item.repository}:${proofStagingTag(p.contentDigest, "estargz")}`);
                const after = (conversion.opts.dependsOn as pulumi.Resource[]).map(nameOf);
                assert.ok(after.includes(`${item.resourceName}-${arch}-smoke`), `the ${arch} conversion waits for its smoke test`);
                assert.ok(after.includes(`${item.resourceName}-${arch}`), `and for its build`);
                assert.ok(waits.includes(conversion.name), `the index waits for the ${arch} conversion`);
            }
            assert.equal(waits.length, 2);
        }
    });

    it("one platform with compression estargz: built into its staging tag, converted, and RegistryTag copies the converted image to the tag", async () => {
        const single = declareProd({ "truss-base-images:matrix": amd64Only() });
        const images = ofType(single, IMAGE);
        assert.equal(images.length, 12);
        assert.equal(dynamic(single, "RegistryIndex").length, 0, "a single image: no index");
        assert.equal(dynamic(single, "RegistryTag").length, 12);
        const conversions = dynamic(single, "EstargzImage");
        for (const item of single.plan.images) {
            const [p] = item.platforms;
            assert.equal(p.finalStagingTag, `${p.stagingTag}-estargz`);
            const image = images.find((r) => r.props.imageName === `${item.repository}:${p.stagingTag}`);
            assert.ok(image, `${item.reference} builds into its staging tag`);
            const conversion = conversions.find((c) => c.props.source === image.props.imageName)!;
            const tag = dynamic(single, "RegistryTag").find((r) => r.name === `${item.resourceName}-tag`)!;
            assert.equal(tag.props.tag, item.tag);
            assert.equal(tag.props.source, `${item.repository}:${p.finalStagingTag}`);
            assert.equal(tag.props.contentDigest, p.contentDigest);
            assert.equal(await valueOf(tag.props.sourceDigest), convertedDigestOf(conversion.props.target), "the converted image's digest");
            assert.deepStrictEqual(
                (tag.opts.dependsOn as pulumi.Resource[]).map(nameOf),
                [conversion.name],
                "the tag waits for the conversion, the proof",
            );
            assert.ok((conversion.opts.dependsOn as pulumi.Resource[]).map(nameOf).includes(`${item.resourceName}-amd64-smoke`));
        }
        assert.equal(dynamic(single, "SmokedStagingTag").length, 0, "eStargz: no SmokedStagingTag");
    });

    it("a platform image staged and smoked (its build-<hex>-smoked tag found by the plan) gets no build and no smoke test; one staged without it gets both (gzip)", async () => {
        const smokedDigest = `sha256:${"5e".repeat(32)}`;
        // The plan's stagedDigests are what classify found under the smoked staging tags (classifyIndex.ts).
        const declared = declareProd({ "truss-base-images:compression": "gzip" }, (plan) => ({
            ...plan,
            images: plan.images.map((i) => ({ ...i, stagedDigests: { "linux/amd64": smokedDigest } })),
        }));
        const none = declareProd({ "truss-base-images:compression": "gzip" });
        const smokeTests = (d: Declared) =>
            d.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/truss-base-images:SmokeTest").map((r) => r.name);
        for (const item of declared.plan.images) {
            assert.ok(
                !smokeTests(declared).includes(`${item.resourceName}-amd64-smoke`),
                `no smoke test for the smoked amd64 image of ${item.reference}`,
            );
            assert.ok(
                smokeTests(declared).includes(`${item.resourceName}-arm64-smoke`),
                `a smoke test for the arm64 image of ${item.reference}`,
            );
            assert.ok(
                smokeTests(none).includes(`${item.resourceName}-amd64-smoke`),
                `without its smoked tag, the amd64 image of ${item.reference} is tested`,
            );
            assert.ok(smokeTests(none).includes(`${item.resourceName}-arm64-smoke`));
        }
        assert.equal(smokeTests(declared).length, 12);
        assert.equal(smokeTests(none).length, 24);
        assert.equal(dynamic(declared, "SmokedStagingTag").length, 12, "only the image tested now is marked now");
        for (const index of dynamic(declared, "RegistryIndex")) {
            const entries = (await valueOf(pulumi.output(index.props.entries as unknown[]))) as { platform: string; digest: string }[];
            assert.equal(entries.find((e) => e.platform === "linux/amd64")?.digest, smokedDigest, "the smoked image is indexed");
        }
    });

    it("after a partial failure, builds only the platform whose image is not staged, and indexes the staged one by its digest", async () => {
        const staged = `sha256:${"cd".repeat(32)}`;
        const multi = declareProd({}, (plan) => ({
            ...plan,
            images: plan.images.map((i) => ({ ...i, stagedDigests: { "linux/amd64": staged } })),
        }));
        const images = ofType(multi, IMAGE);
        assert.equal(images.length, 12);
        for (const r of images) assert.equal(r.props.build.platform, "linux/arm64");
        for (const index of dynamic(multi, "RegistryIndex")) {
            const entries = (await valueOf(pulumi.output(index.props.entries as unknown[]))) as { platform: string; digest: string }[];
            assert.deepEqual(
                entries.find((e) => e.platform === "linux/amd64"),
                { platform: "linux/amd64", digest: staged },
            );
        }
    });

    describe("prod's platforms with gzip", () => {
        let multi: Declared;
        before(async () => {
            multi = declareProd({ "truss-base-images:compression": "gzip" });
            await settle(() => multi.resources, multi.output);
        });

        it("declares one docker.Image per platform into its staging tag: amd64 on the runner it always had, arm64 on the arm64 pool", async () => {
            const single = declareProd({ "truss-base-images:matrix": amd64Only(), "truss-base-images:compression": "gzip" });
            const singlePlan = single.plan.images;
            const singleProvider = new Map<string, string | undefined>();
            for (const r of ofType(single, IMAGE)) singleProvider.set(r.props.imageName, await providerName(r));

            // Prod's platforms, gzip (multi): so each amd64 digest is comparable with the single-platform gzip one.
            const images = ofType(multi, IMAGE);
            assert.equal(images.length, 24, "12 tags x 2 platforms");
            for (const item of multi.plan.images) {
                const before = singlePlan.find((p) => p.reference === item.reference)!;
                assert.equal(item.platforms.length, 2);
                for (const p of item.platforms) {
                    const image = images.find((r) => r.props.imageName === `${item.repository}:build-${p.contentDigest.slice(7)}`);
                    assert.ok(image, `a build of ${item.reference} for ${p.platform} into its staging tag`);
                    assert.equal(image.props.build.platform, p.platform);
                    assert.equal(image.props.build.args.TRUSS_BASE_CONTENT_DIGEST, p.contentDigest);
                    const provider = await providerName(image);
                    if (p.platform === "linux/amd64") {
                        assert.equal(
                            p.contentDigest,
                            before.contentDigest,
                            `adding linux/arm64 changes no amd64 content digest (${item.reference})`,
                        );
                        assert.equal(
                            provider,
                            singleProvider.get(`${before.repository}:build-${before.contentDigest.slice(7)}`),
                            `the amd64 image of ${item.reference} stays on its runner`,
                        );
                    } else {
                        assert.notEqual(p.contentDigest, before.contentDigest, "the platform is part of the content digest");
                        assert.equal(provider, "runner-arm64-0-docker", "arm64 builds natively on the arm64 pool");
                    }
                }
            }
            assert.equal(singleProvider.size, 12);
        });

        it("still declares one SmokedStagingTag per platform image, writing its proof tag build-<hex>-smoked after its smoke test (gzip)", async () => {
            const smoked = dynamic(multi, "SmokedStagingTag");
            assert.equal(smoked.length, 24, "12 tags x 2 platforms");
            for (const item of multi.plan.images) {
                for (const [arch, p] of [
                    ["amd64", item.platforms[0]],
                    ["arm64", item.platforms[1]],
                ] as const) {
                    const mark = smoked.find((r) => r.name === `${item.resourceName}-${arch}-smoked`)!;
                    assert.equal(mark.props.tag, proofStagingTag(p.contentDigest, "gzip"));
                    assert.notEqual(mark.props.tag, p.finalStagingTag, "the build's own staging tag is pushed before the smoke test");
                    assert.ok((mark.opts.dependsOn as pulumi.Resource[]).map(nameOf).includes(`${item.resourceName}-${arch}-smoke`));
                }
            }
            assert.equal(dynamic(multi, "EstargzImage").length, 0);
        });

        it("writes every published tag only through its index step, after every platform's image and smoke test (gzip)", async () => {
            const published = new Set(multi.plan.images.map((i) => i.reference));
            for (const r of ofType(multi, IMAGE))
                assert.ok(!published.has(r.props.imageName), `${r.props.imageName} is never a build's target`);
            assert.equal(dynamic(multi, "RegistryTag").length, 0, "no RegistryTag: the index step writes the tags");
            const indexes = dynamic(multi, "RegistryIndex");
            assert.equal(indexes.length, 12);
            for (const item of multi.plan.images) {
                const index = indexes.find((r) => r.name === `${item.resourceName}-index`)!;
                assert.equal(index.props.tag, item.tag);
                assert.equal(index.props.repository, item.repository);
                assert.equal(index.props.contentDigest, item.contentDigest, "the index is annotated with the tag's content digest");
                assert.deepStrictEqual(
                    index.props.platforms,
                    item.platforms.map((p) => ({ platform: p.platform, contentDigest: p.contentDigest })),
                );
                const entries = await valueOf(pulumi.output(index.props.entries as unknown[]));
                assert.deepEqual(
                    (entries as { platform: string }[]).map((e) => e.platform),
                    BOTH,
                );
                const waits = (index.opts.dependsOn as pulumi.Resource[]).map(nameOf);
                const smoked = dynamic(multi, "SmokedStagingTag");
                for (const [arch, p] of [
                    ["amd64", item.platforms[0]],
                    ["arm64", item.platforms[1]],
                ] as const) {
                    assert.ok(waits.includes(`${item.resourceName}-${arch}-smoked`), `the index waits for the ${arch} smoked staging tag`);
                    const mark = smoked.find((r) => r.name === `${item.resourceName}-${arch}-smoked`)!;
                    const after = (mark.opts.dependsOn as pulumi.Resource[]).map(nameOf);
                    assert.ok(after.includes(`${item.resourceName}-${arch}`), `the ${arch} smoked tag is written after the ${arch} image`);
                    assert.ok(after.includes(`${item.resourceName}-${arch}-smoke`), `and after its smoke test passed`);
                    assert.equal(mark.props.tag, `build-${p.contentDigest.slice(7)}-smoked`);
                    assert.equal(await valueOf(mark.props.sourceDigest), PUSHED_DIGEST, "gzip: the pushed image, which the smoke test ran");
                    assert.equal(mark.opts.retainOnDelete, true);
                }
                assert.equal(index.opts.retainOnDelete, true);
                assert.equal(index.props.immutable, true, "prod's immutableTags: the index step never replaces a tag");
            }
            const out = (await valueOf(multi.output)) as Record<string, { contentDigest: string }>;
            for (const item of multi.plan.images) assert.equal(out[item.reference].contentDigest, item.contentDigest);
        });
    });
});

function flatBuilders(): unknown {
    return JSON.parse(flatConfig("prod")["truss-base-images:builders"]);
}

/** The committed prod matrix (the Truss checkout's server images, cpu and gpu). */
function prodMatrix(): Record<string, unknown> {
    return JSON.parse(flatConfig("prod")["truss-base-images:matrix"]);
}

/** Prod's matrix with linux/amd64 alone. */
function amd64Only(): Record<string, unknown> {
    return { ...prodMatrix(), platforms: ["linux/amd64"] };
}
