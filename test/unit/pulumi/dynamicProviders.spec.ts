import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ReadinessGate } from "../../../src/pulumi/readiness";
import { SmokeTest } from "../../../src/pulumi/smokeTest";
import { mockOutputs, recorded, resetMocks, valueOf } from "../../support/pulumiMocks";
import { estimateState } from "../../support/stateSize";
import { declareMockStack, flatConfig } from "../../support/stacks";

const LIMIT_BYTES = 5 * 1024;
/** Declared by prod as committed (both platforms, eStargz): every tag an index of converted images. */
const PROD_TYPES = ["RegistryIndex", "EstargzImage", "SmokeTest", "ReadinessGate", "WorkTicket"];

describe("dynamic providers in the state (Pulumi mocks)", () => {
    it(`each dynamic provider serializes to at most ${LIMIT_BYTES} bytes, and the prod stack's estimated state stays under 450 KB (it was 4.8 MB, then 479 KB)`, async () => {
        // The prod stack with every image to build: every kind of resource, the most of them.
        const stack = declareMockStack("prod");
        mockOutputs("docker:index/image:Image", (args) => ({ repoDigest: `${args.inputs.imageName}@sha256:${"0".repeat(64)}` }));
        await valueOf(stack.output);
        const estimate = estimateState(recorded());
        const check = (sizes: Readonly<Record<string, number>>, types: readonly string[], where: string) => {
            for (const type of types) {
                const entry = Object.entries(sizes).find(([t]) => t.endsWith(`:${type}`));
                assert.ok(entry, `${where} declares a ${type}`);
                assert.ok(entry[1] <= LIMIT_BYTES, `${type}'s serialized provider is ${entry[1]} bytes, more than ${LIMIT_BYTES}`);
            }
        };
        check(estimate.providerBytes, PROD_TYPES, "the prod stack");
        // An estimate (test/support/stateSize.ts); the benchmark prints it.
        assert.ok(
            estimate.bytes < 450 * 1024,
            `estimated state ${Math.round(estimate.bytes / 1024)} KB for ${estimate.resources} resources`,
        );
        // RegistryTag writes single-image tags: prod with linux/amd64 alone and gzip declares it.
        const matrix = { ...(JSON.parse(flatConfig("prod")["truss-base-images:matrix"]) as object), platforms: ["linux/amd64"] };
        const single = declareMockStack("prod", {
            overrides: { "truss-base-images:matrix": matrix, "truss-base-images:compression": "gzip" },
        });
        mockOutputs("docker:index/image:Image", (args) => ({ repoDigest: `${args.inputs.imageName}@sha256:${"0".repeat(64)}` }));
        mockOutputs("pulumi-nodejs:dynamic/truss-base-images:RegistryTag", () => ({ digest: `sha256:${"1".repeat(64)}` }));
        await valueOf(single.output);
        check(estimateState(recorded()).providerBytes, ["RegistryTag"], "prod with one platform");
    });

    it("SmokeTest.testedDigest and ReadinessGate.dockerVersion hold the values the engine returns (through Pulumi's output serialization)", async () => {
        resetMocks();
        mockOutputs("pulumi-nodejs:dynamic:SmokeTest", (args) => ({ testedDigest: args.inputs.digest }));
        mockOutputs("pulumi-nodejs:dynamic:ReadinessGate", () => ({ dockerVersion: "26.1.5" }));
        const digest = `sha256:${"e".repeat(64)}`;
        const smoke = new SmokeTest("smoke", {
            image: `docker.io/baseten/truss-server-base@${digest}`,
            digest,
            spec: { jobType: "server", python: "3.9", accelerator: "cpu", liveReload: false },
            runner: "cpu-0",
            host: "ssh://ubuntu@192.0.2.1",
            timeoutSeconds: 60,
        });
        const gate = new ReadinessGate("gate", {
            runner: "cpu-0",
            host: "ssh://ubuntu@192.0.2.1",
            sshOpts: [],
            waitForCloudInit: true,
            timeoutSeconds: 60,
            builds: ["docker.io/baseten/truss-server-base:3.9-v1"],
        });
        assert.ok(pulumi.Output.isInstance(smoke.testedDigest), "testedDigest is an Output");
        assert.equal(await valueOf(smoke.testedDigest), digest);
        assert.equal(await valueOf(gate.dockerVersion), "26.1.5");
    });
});
