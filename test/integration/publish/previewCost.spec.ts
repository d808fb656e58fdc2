import * as assert from "assert";
import { measurePreview } from "../../support/previewCost";

describe("the registry cost of one preview (prod matrix, token-auth registry holding the current version)", () => {
    it("sends at most 2 requests per published tag (an index of 2 platform images) in total, token requests included, and none from the resource diffs", async () => {
        const cost = await measurePreview();
        assert.strictEqual(cost.images, 12, "the prod matrix on the fixture Truss checkout");
        assert.strictEqual(cost.platformImages, 24, "each tag an index of a linux/amd64 and a linux/arm64 image");
        assert.strictEqual(cost.diffRequests, 0, "RegistryIndex diffs ask the registry nothing");
        assert.ok(cost.perImage <= 2, `${cost.perImage.toFixed(2)} requests per image (${JSON.stringify(cost)})`);
    });
});
