import { strict as assert } from "assert";
import { mockOutputs, recorded, valueOf } from "../../support/pulumiMocks";
import { declareMockStack } from "../../support/stacks";

describe("parent pins in the Pulumi program (mocks)", () => {
    it("prod (on the fixture Truss checkout) with requirePinnedParents: true and the committed lock (nothing pinned) stops before declaring anything, naming every unpinned parent", () => {
        assert.throws(
            () => declareMockStack("prod", { overrides: { "truss-base-images:requirePinnedParents": true } }),
            (e: Error) => {
                assert.match(e.message, /requirePinnedParents is true, but 7 parent images have no pin in images\/parents\.lock/);
                for (const parent of [
                    "python:3.9",
                    "python:3.10",
                    "python:3.11",
                    "python:3.12",
                    "python:3.13",
                    "python:3.14",
                    "nvidia/cuda:12.8.1-base-ubuntu22.04",
                ]) {
                    assert.ok(e.message.includes(`  - ${parent} (parent of`), `${parent} missing from:\n${e.message}`);
                }
                assert.match(e.message, /npm run parents -- --stack <name> --update/);
                return true;
            },
        );
        assert.equal(recorded().length, 0);
    });

    it("without requirePinnedParents, the unpinned dev stack builds each docker.Image FROM its parent's tag, as before pins existed", async () => {
        const stack = declareMockStack("dev", { withPassword: false });
        // What a push would report, so that the stack's outputs resolve.
        mockOutputs("docker:index/image:Image", (a) => ({
            repoDigest: `${String(a.inputs.imageName).replace(/:[^:/]+$/, "")}@sha256:${"ab".repeat(32)}`,
        }));
        await valueOf(stack.output);
        const images = recorded().filter((r) => r.type === "docker:index/image:Image");
        assert.equal(images.length, 4);
        for (const r of images) {
            // Builds push to the image's staging tag, `<repository>:build-<content digest hex>`.
            const planned = stack.plan.find(
                (p) => `${p.repository}:build-${p.contentDigest.slice("sha256:".length)}` === r.inputs.imageName,
            )!;
            const args = (r.inputs.build as { args: Record<string, string> }).args;
            assert.equal(args.PARENT_IMAGE, planned.spec.accelerator === "gpu" ? "nvidia/cuda:12.8.1-base-ubuntu22.04" : "python:3.9");
        }
    });
});
