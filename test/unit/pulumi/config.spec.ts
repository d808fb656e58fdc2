import { strict as assert } from "assert";
import * as pulumi from "@pulumi/pulumi";
import { isConfigSecret } from "../../../src/pulumi/config";

describe("isConfigSecret: the SDK's record of keys set with --secret", () => {
    it("tells a secret key from a plain one in the pinned @pulumi/pulumi (fails if the SDK moves it)", () => {
        const before = pulumi.runtime.allConfig();
        const secretBefore = Object.keys(before).filter((k) => isConfigSecret(k));
        try {
            pulumi.runtime.setAllConfig({ ...before, "probe:secretKey": "s", "probe:plainKey": "p" }, [...secretBefore, "probe:secretKey"]);
            assert.equal(isConfigSecret("probe:secretKey"), true);
            assert.equal(isConfigSecret("probe:plainKey"), false);
        } finally {
            pulumi.runtime.setAllConfig(before, secretBefore);
        }
    });
});
