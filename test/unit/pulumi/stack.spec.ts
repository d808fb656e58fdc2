import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { LABELS } from "../../../src/images/labels";
import { describeOutput, mockOutputs, recorded, RecordedResource, valueOf } from "../../support/pulumiMocks";
import { declareMockStack, FAKE_PASSWORD, MockStack, prodAsCommitted, PROJECT_DIR } from "../../support/stacks";
import { FIXTURE_PYTHONS, FIXTURE_VERSION_TAG } from "../../support/trussCheckouts";
import * as os from "os";
import * as YAML from "yaml";

const IMAGE_TYPE = "docker:index/image:Image";
const TAG_TYPE = "pulumi-nodejs:dynamic/truss-base-images:RegistryTag";
const INDEX_TYPE = "pulumi-nodejs:dynamic/truss-base-images:RegistryIndex";
/** What the fake RegistryTag reports the published tag holds (the staging manifest plus an annotation). */
const PUBLISHED_DIGEST = `sha256:${"cd".repeat(32)}`;

/** Fake registry answers: the digest a push to the staging tag reports, and the digest RegistryTag wrote. */
function fakePushDigests(): void {
    mockOutputs(IMAGE_TYPE, (args) => ({
        repoDigest: `${String(args.inputs.imageName).replace(/:[^:/]+$/, "")}@sha256:${"ab".repeat(32)}`,
    }));
    mockOutputs(TAG_TYPE, (args) => ({ digest: PUBLISHED_DIGEST, reference: `${args.inputs.repository}:${args.inputs.tag}` }));
}

/** `<repository>:build-<64 hex>`, written out independently of the naming code. */
function staging(p: { repository: string; contentDigest: string }): string {
    return `${p.repository}:build-${p.contentDigest.slice("sha256:".length)}`;
}

function images(): RecordedResource[] {
    return recorded().filter((r) => r.type === IMAGE_TYPE);
}

/** A stack declared once for a group of tests: what it declared, and its images output. */
interface Declared {
    readonly stack: MockStack;
    readonly images: readonly RecordedResource[];
    readonly tags: readonly RecordedResource[];
    readonly indexes: readonly RecordedResource[];
    readonly output: Record<string, unknown>;
}

/** What a group of tests reads of a declaration: the mock engine's record (a copy), by type, and the output. */
function kept(stack: MockStack, resources: readonly RecordedResource[], output: Record<string, unknown>): Declared {
    return {
        stack,
        images: resources.filter((r) => r.type === IMAGE_TYPE),
        tags: resources.filter((r) => r.type === TAG_TYPE),
        indexes: resources.filter((r) => r.type === INDEX_TYPE),
        output,
    };
}

/** Declares a stack, fakes the pushes and waits for its output; the mock engine's record is copied, since the next declaration clears it. */
async function declareAndPush(name: string, opts: Parameters<typeof declareMockStack>[1]): Promise<Declared> {
    const stack = declareMockStack(name, opts);
    fakePushDigests();
    const output = await valueOf(stack.output);
    return kept(stack, recorded(), output);
}

// Written out independently of the naming code: these are the names Truss looks up.
const DEV_REFERENCES = [
    "localhost:5000/baseten/truss-server-base:3.9-dev",
    "localhost:5000/baseten/truss-server-base:3.9-gpu-dev",
    "localhost:5000/baseten/truss-training-base:3.9-dev",
    "localhost:5000/baseten/truss-training-base:3.9-gpu-dev",
];

/** prod on the fixture Truss checkout: server images of its six pythons, cpu and gpu, under its tag. */
function prodReferences(): string[] {
    const out: string[] = [];
    for (const py of FIXTURE_PYTHONS.today) {
        for (const suffix of ["", "-gpu"]) out.push(`docker.io/baseten/truss-server-base:${py}${suffix}-${FIXTURE_VERSION_TAG.today}`);
    }
    return out.sort();
}

describe("stack declarations (Pulumi mocks)", () => {
    describe("Pulumi.dev.yaml as committed", () => {
        let dev: Declared;
        before(async () => {
            dev = await declareAndPush("dev", { withPassword: false });
        });

        it("declares one docker.Image per image, pushing to its staging tag, and one RegistryTag writing each published tag from it", () => {
            const { stack } = dev;
            const names = dev.images.map((r) => r.inputs.imageName as string).sort();
            assert.deepEqual(names, stack.plan.map(staging).sort());
            for (const name of names) assert.ok(!DEV_REFERENCES.includes(name), `${name}: a build never pushes a published tag`);
            assert.deepEqual(Object.keys(dev.output).sort(), DEV_REFERENCES);
            assert.deepEqual(dev.tags.map((t) => `${t.inputs.repository}:${t.inputs.tag}`).sort(), DEV_REFERENCES);
            for (const t of dev.tags) {
                const planned = stack.plan.find((p) => p.repository === t.inputs.repository && p.tag === t.inputs.tag)!;
                assert.equal(t.inputs.source, staging(planned));
                assert.equal(t.inputs.sourceDigest, `sha256:${"ab".repeat(32)}`);
                assert.equal(t.inputs.contentDigest, planned.contentDigest);
                assert.equal(t.inputs.immutable, false, "dev has immutableTags: false");
            }
        });

        it("builds every image for linux/amd64 from its own staged context, with the content digest as a build arg", () => {
            const { stack } = dev;
            for (const r of dev.images) {
                const build = r.inputs.build as Record<string, any>;
                const planned = stack.plan.find((p) => staging(p) === r.inputs.imageName)!;
                assert.equal(build.platform, "linux/amd64");
                assert.equal(build.args.TRUSS_BASE_CONTENT_DIGEST, planned.contentDigest);
                assert.equal(
                    build.context,
                    `.build/contexts/${planned.contentDigest.slice(7)}`,
                    "a relative path, the same on every machine",
                );
                const dockerfile = fs.readFileSync(path.join(stack.projectDir, build.dockerfile), "utf8");
                assert.match(
                    dockerfile,
                    new RegExp(`"${LABELS.contentDigest.replace(/\./g, "\\.")}"="\\$\\{TRUSS_BASE_CONTENT_DIGEST\\}"`),
                );
                assert.equal(r.inputs.skipPush, false);
            }
        });

        it("pushes anonymously to the local registry: no credentials", () => {
            for (const r of dev.images) {
                const registry = r.inputs.registry as Record<string, unknown>;
                assert.equal(registry.server, "localhost:5000");
                assert.equal(registry.username, undefined);
                assert.equal(registry.password, undefined);
            }
        });

        it("with push: false, builds only", async () => {
            const buildOnly = await declareAndPush("dev", { withPassword: false, overrides: { "truss-base-images:push": false } });
            assert.equal(buildOnly.images.length, 4);
            for (const r of buildOnly.images) assert.equal(r.inputs.skipPush, true);
        });

        it("retains every image on delete, so dropping one never deletes a published tag", () => {
            const declared = [...dev.stack.options.values()].filter((o) => o.type === IMAGE_TYPE);
            assert.equal(declared.length, 4);
            for (const o of declared) assert.equal(o.opts.retainOnDelete, true);
        });

        it("builds an image after the one it shares its first layers with (same parent and python), so those layers are built and pushed once", () => {
            const { stack } = dev;
            const dependsOn = (name: string) => (stack.options.get(name)?.opts.dependsOn ?? []) as pulumi.Resource[];
            const build = (ref: string) => stack.builds[`localhost:5000/baseten/${ref}`];
            assert.deepEqual(dependsOn("truss-server-base-3.9-dev"), []);
            assert.deepEqual(dependsOn("truss-server-base-3.9-gpu-dev"), []);
            assert.deepEqual(dependsOn("truss-training-base-3.9-dev"), [build("truss-server-base:3.9-dev")]);
            assert.deepEqual(dependsOn("truss-training-base-3.9-gpu-dev"), [build("truss-server-base:3.9-gpu-dev")]);
        });

        it("exports images: reference -> { contentDigest, digest, action }", () => {
            for (const p of dev.stack.plan) {
                assert.deepEqual(dev.output[p.reference], {
                    contentDigest: p.contentDigest,
                    digest: PUBLISHED_DIGEST,
                    action: "build",
                });
            }
        });

        it("knows every staging tag at preview", async () => {
            const stack = declareMockStack("dev", { withPassword: false, preview: true });
            for (const [reference, image] of Object.entries(stack.builds)) {
                const name = await describeOutput(image.image.imageName);
                assert.equal(name.known, true, `${reference} unknown at preview`);
                assert.equal(await valueOf(image.image.imageName), staging(stack.plan.find((p) => p.reference === reference)!));
            }
            assert.deepEqual(
                images()
                    .map((r) => r.inputs.imageName)
                    .sort(),
                stack.plan.map(staging).sort(),
            );
        });
    });

    describe("Pulumi.prod.yaml as committed (secrets faked)", () => {
        let prod: Declared;
        before(async () => {
            // The declaration the specs share (test/support/stacks.ts), its pushes faked with the same digest (prod has no RegistryTag).
            const stack = await prodAsCommitted();
            prod = kept(stack, stack.resources, await valueOf(stack.output));
        });

        it("declares the Truss checkout's matrix (the fixture checkout): 12 tags, each an index of a linux/amd64 and a linux/arm64 docker.Image pushing to its staging tag on Docker Hub", () => {
            const platformImages = prod.stack.plan.flatMap((p) => p.platforms.map((x) => ({ repository: p.repository, ...x })));
            assert.equal(platformImages.length, 24);
            assert.deepEqual(prod.images.map((r) => r.inputs.imageName as string).sort(), platformImages.map(staging).sort());
            assert.deepEqual(prod.stack.plan.map((p) => p.reference).sort(), prodReferences());
            assert.deepEqual(Object.keys(prod.output).sort(), prodReferences());
            for (const p of platformImages) {
                const image = prod.images.find((r) => r.inputs.imageName === staging(p))!;
                assert.equal((image.inputs.build as any).platform, p.platform);
            }
            assert.equal(prod.tags.length, 0, "no single-image tags: every tag is an index");
            assert.equal(prod.indexes.length, 12);
        });

        it("passes the registry password as a secret and never puts it in the outputs", async () => {
            const { stack } = prod;
            assert.equal(prod.images.length, 24);
            for (const r of prod.images) {
                // What the engine receives: the registry block as a whole is marked secret.
                const sent = r.inputs.registry as Record<string, any>;
                assert.equal(
                    sent[pulumi.runtime.specialSigKey],
                    pulumi.runtime.specialSecretSig,
                    "the registry block reaches the engine as a secret",
                );
                assert.equal(sent.value.username, "basetenservice");
                assert.equal(sent.value.server, "docker.io");
            }
            const declared = [...stack.options.values()].filter((o) => o.type === IMAGE_TYPE);
            assert.equal(declared.length, 24);
            for (const d of declared) {
                const password = d.props.registry.password as pulumi.Output<string>;
                assert.ok(pulumi.Output.isInstance(password), "the password reaches docker.Image as an Output, never a plain string");
                assert.equal((await describeOutput(password)).secret, true);
                assert.equal(await valueOf(password), FAKE_PASSWORD);
            }
            const out = await valueOf(stack.output);
            assert.ok(!JSON.stringify(out).includes(FAKE_PASSWORD));
            assert.equal((await describeOutput(stack.output)).secret, false, "the images output is not tainted by the secret");
        });

        it("refuses a registry password stored in plain text", () => {
            assert.throws(
                () => declareMockStack("prod", { plainPassword: true }),
                (e: Error) =>
                    pulumi.RunError.isInstance(e) &&
                    /registryPassword: is stored in plain text/.test(e.message) &&
                    !e.message.includes(FAKE_PASSWORD),
            );
        });

        it("stops before declaring anything when the password is missing, and says how to set it", () => {
            assert.throws(
                () => declareMockStack("prod", { withPassword: false }),
                (e: Error) =>
                    /registryPassword: is required because registry\.username is set/.test(e.message) &&
                    /pulumi config set --secret registryPassword/.test(e.message),
            );
            assert.equal(recorded().length, 0);
        });

        it("without a Truss checkout at truss.checkout (../truss as committed), stops before declaring anything, saying where it looked and how to set it", () => {
            const committed = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.prod.yaml"), "utf8")).config[
                "truss-base-images:truss"
            ];
            assert.deepEqual(committed, { checkout: "../truss" });
            const missing = path.join(os.tmpdir(), "no-truss-checkout-here");
            assert.throws(
                () => declareMockStack("prod", { overrides: { "truss-base-images:truss": { checkout: missing } } }),
                (e: Error) =>
                    pulumi.RunError.isInstance(e) &&
                    e.message.startsWith(`No Truss checkout at ${missing} (from truss.checkout`) &&
                    e.message.includes("pulumi config set --path truss.checkout <path>"),
            );
            assert.equal(recorded().length, 0);
        });
    });

    describe("invalid configuration", () => {
        it("fails before any resource is declared, with one message listing every problem", () => {
            assert.throws(
                () =>
                    declareMockStack("dev", {
                        withPassword: false,
                        overrides: {
                            "truss-base-images:matrix": { jobTypes: ["server"], pythonVersions: ["3.7"], gpu: [], liveReload: [false] },
                            "truss-base-images:versionTag": "v1/2",
                        },
                    }),
                (e: Error) => {
                    assert.ok(pulumi.RunError.isInstance(e), "a RunError: printed without a stack trace");
                    assert.match(
                        e.message,
                        /truss-base-images:matrix\.pythonVersions\[0\]: is not a python version of the catalog.*supported: 3\.8, 3\.9/,
                    );
                    assert.match(e.message, /truss-base-images:matrix\.gpu: must list at least one/);
                    assert.match(e.message, /truss-base-images:versionTag: makes the tag/);
                    return true;
                },
            );
            assert.equal(recorded().length, 0);
        });
    });
});
