import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { registryTagProvider } from "../../../src/pulumi/registryTagProvider";
import type { RegistryTagInputs } from "../../../src/pulumi/registryTag";

const DIGEST = `sha256:${"a".repeat(64)}`;

function inputs(sourceDigest: string | undefined): RegistryTagInputs {
    return {
        server: "registry.example.com",
        repository: "registry.example.com/baseten/truss-server-base",
        tag: "3.11-v0.1.0",
        contentDigest: DIGEST,
        sourceDigest,
    } as unknown as RegistryTagInputs;
}

describe("registryTagProvider.check: the source digest", () => {
    it("accepts Pulumi's unknown value, which a preview passes for a digest the build has not pushed yet", async () => {
        const result = await registryTagProvider.check!(inputs(undefined), inputs(pulumi.runtime.unknownValue));
        assert.deepEqual(result.failures, []);
    });

    it("refuses anything else that is not a sha256 manifest digest, saying what it got", async () => {
        const result = await registryTagProvider.check!(inputs(undefined), inputs("latest"));
        assert.deepEqual(
            result.failures?.map((f) => f.property),
            ["sourceDigest"],
        );
        assert.match(result.failures![0].reason, /expected a manifest digest sha256:<64 hex>, got "latest"/);
    });
});
