import { strict as assert } from "assert";
import { releaseVerdict } from "../../../src/publish/releaseVerdict";
import type { PublishAction } from "../../../src/publish/plannedImages";

const images = (...actions: PublishAction[]) =>
    actions.map((action, i) => (action === "retag" ? { action, source: `r/truss-server-base:3.${9 + i}-gpu-v0.12.0` } : { action }));

describe("release verdicts from the plan of a version tag", () => {
    it("up-to-date (0): every tag holds this content", () => {
        const d = releaseVerdict(images("unchanged", "unchanged"), "v1");
        assert.deepEqual([d.verdict, d.exitCode], ["up-to-date", 0]);
    });
    it("publish (2): absent tags, none conflicting; counts builds and re-tags", () => {
        const d = releaseVerdict(images("build", "retag", "unchanged"), "v1");
        assert.deepEqual([d.verdict, d.exitCode], ["publish", 2]);
        assert.match(d.explanation, /will build 1 and re-tag 1 \(1 already published\)/);
        assert.equal(
            releaseVerdict(images("retag", "unchanged"), "v1").verdict,
            "publish",
            "a tag partly published is not a needless bump",
        );
    });
    it("bump-needed (3): any conflict wins over everything else", () => {
        const d = releaseVerdict(images("conflict", "build", "retag", "unchanged"), "v1");
        assert.deepEqual([d.verdict, d.exitCode], ["bump-needed", 3]);
    });
    it("needless-bump (3): every image re-tags from an already published version, named", () => {
        const d = releaseVerdict(images("retag", "retag"), "v0.13.0");
        assert.deepEqual([d.verdict, d.exitCode], ["needless-bump", 3]);
        assert.match(d.explanation, /already published \(v0\.12\.0\)/);
    });
});
