import { strict as assert } from "assert";
import { needsBuild } from "../../../src/publish/classify";

describe("needsBuild: which images are built (and so need a runner)", () => {
    it("builds a new image and a conflicting one rebuilt under mutable tags; a retag copies a manifest; an unchanged image needs nothing", () => {
        const actions = ["build", "conflict", "retag", "unchanged"] as const;
        assert.deepEqual(
            actions.map((action) => needsBuild({ action })),
            [true, true, false, false],
        );
    });
});
