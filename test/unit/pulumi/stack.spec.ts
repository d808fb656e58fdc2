import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { LABELS } from "../../../src/images/labels";
import { describeOutput, mockOutputs, recorded, valueOf } from "../../support/pulumiMocks";
import { declareMockStack, FAKE_PASSWORD } from "../../support/stacks";

const IMAGE_TYPE = "docker:index/image:Image";
const TAG_TYPE = "pulumi-nodejs:dynamic/truss-base-images:RegistryTag";
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

function images() {
    return recorded().filter((r) => r.type === IMAGE_TYPE);
}

// Written out independently of the naming code: these are the names Truss looks up.
const DEV_REFERENCES = [
    "localhost:5000/baseten/truss-server-base:3.9-dev",
    "localhost:5000/baseten/truss-server-base:3.9-gpu-dev",
    "localhost:5000/baseten/truss-training-base:3.9-dev",
    "localhost:5000/baseten/truss-training-base:3.9-gpu-dev",
];

function prodReferences(): string[] {
    const out: string[] = [];
    for (const job of ["server", "training"]) {
        for (const py of ["3.9", "3.10", "3.11", "3.12"]) {
            for (const suffix of ["", "-reload", "-gpu", "-gpu-reload"]) {
                out.push(`docker.io/baseten/truss-${job}-base:${py}${suffix}-v0.2.2`);
            }
        }
    }
    return out.sort();
}

describe("stack declarations (Pulumi mocks)", () => {
    describe("Pulumi.dev.yaml as committed", () => {
        it("declares one docker.Image per image, pushing to its staging tag, and one RegistryTag writing each published tag from it", async () => {
            const stack = declareMockStack("dev", { withPassword: false });
            fakePushDigests();
            const out = await valueOf(stack.output);
            const names = images()
                .map((r) => r.inputs.imageName as string)
                .sort();
            assert.deepEqual(names, stack.plan.map(staging).sort());
            for (const name of names) assert.ok(!DEV_REFERENCES.includes(name), `${name}: a build never pushes a published tag`);
            assert.deepEqual(Object.keys(out).sort(), DEV_REFERENCES);
            const tags = recorded().filter((r) => r.type === TAG_TYPE);
            assert.deepEqual(tags.map((t) => `${t.inputs.repository}:${t.inputs.tag}`).sort(), DEV_REFERENCES);
            for (const t of tags) {
                const planned = stack.plan.find((p) => p.repository === t.inputs.repository && p.tag === t.inputs.tag)!;
                assert.equal(t.inputs.source, staging(planned));
                assert.equal(t.inputs.sourceDigest, `sha256:${"ab".repeat(32)}`);
                assert.equal(t.inputs.contentDigest, planned.contentDigest);
                assert.equal(t.inputs.immutable, false, "dev has immutableTags: false");
            }
        });

        it("builds every image for linux/amd64 from its own staged context, with the content digest as a build arg", async () => {
            const stack = declareMockStack("dev", { withPassword: false });
            fakePushDigests();
            await valueOf(stack.output);
            for (const r of images()) {
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

        it("pushes anonymously to the local registry: no credentials", async () => {
            const stack = declareMockStack("dev", { withPassword: false });
            fakePushDigests();
            await valueOf(stack.output);
            for (const r of images()) {
                const registry = r.inputs.registry as Record<string, unknown>;
                assert.equal(registry.server, "localhost:5000");
                assert.equal(registry.username, undefined);
                assert.equal(registry.password, undefined);
            }
        });

        it("with push: false, builds only", async () => {
            const stack = declareMockStack("dev", { withPassword: false, overrides: { "truss-base-images:push": false } });
            fakePushDigests();
            await valueOf(stack.output);
            assert.equal(images().length, 4);
            for (const r of images()) assert.equal(r.inputs.skipPush, true);
        });

        it("retains every image on delete, so dropping one never deletes a published tag", async () => {
            const stack = declareMockStack("dev", { withPassword: false });
            fakePushDigests();
            await valueOf(stack.output);
            const declared = [...stack.options.values()].filter((o) => o.type === IMAGE_TYPE);
            assert.equal(declared.length, 4);
            for (const o of declared) assert.equal(o.opts.retainOnDelete, true);
        });

        it("builds an image after the one it shares its first layers with (same parent and python), so those layers are built and pushed once", async () => {
            const stack = declareMockStack("dev", { withPassword: false });
            fakePushDigests();
            await valueOf(stack.output);
            const dependsOn = (name: string) => (stack.options.get(name)?.opts.dependsOn ?? []) as pulumi.Resource[];
            const build = (ref: string) => stack.builds[`localhost:5000/baseten/${ref}`];
            assert.deepEqual(dependsOn("truss-server-base-3.9-dev"), []);
            assert.deepEqual(dependsOn("truss-server-base-3.9-gpu-dev"), []);
            assert.deepEqual(dependsOn("truss-training-base-3.9-dev"), [build("truss-server-base:3.9-dev")]);
            assert.deepEqual(dependsOn("truss-training-base-3.9-gpu-dev"), [build("truss-server-base:3.9-gpu-dev")]);
        });

        it("exports images: reference -> { contentDigest, digest, action }", async () => {
            const stack = declareMockStack("dev", { withPassword: false });
            fakePushDigests();
            const out = await valueOf(stack.output);
            for (const p of stack.plan) {
                assert.deepEqual(out[p.reference], {
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
        it("declares the full matrix: 32 images, one docker.Image each pushing to its staging tag on Docker Hub", async () => {
            const stack = declareMockStack("prod");
            fakePushDigests();
            const out = await valueOf(stack.output);
            assert.deepEqual(
                images()
                    .map((r) => r.inputs.imageName as string)
                    .sort(),
                stack.plan.map(staging).sort(),
            );
            assert.deepEqual(stack.plan.map((p) => p.reference).sort(), prodReferences());
            assert.deepEqual(Object.keys(out).sort(), prodReferences());
            for (const r of images()) assert.equal((r.inputs.build as any).platform, "linux/amd64");
        });

        it("passes the registry password as a secret and never puts it in the outputs", async () => {
            const stack = declareMockStack("prod");
            fakePushDigests();
            for (const r of images()) {
                const registry = r.inputs.registry as Record<string, unknown>;
                assert.equal(registry.username, "basetenservice");
                assert.equal(registry.server, "docker.io");
            }
            const declared = [...stack.options.values()].filter((o) => o.type === IMAGE_TYPE);
            assert.equal(declared.length, 32);
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
