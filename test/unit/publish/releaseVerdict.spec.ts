import { strict as assert } from "assert";
import { gateDecision, releaseVerdict } from "../../../src/publish/releaseVerdict";
import { DefinitionChange, requirementsDiff } from "../../../src/publish/definitionChanges";
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

describe("the release gate's decision: labels, history and the policy", () => {
    const base = {
        versionTag: "v0.13.0",
        versionTagFile: "/src/truss/truss/contexts/image_builder/util.py",
        changesSinceTag: [],
        changesSincePrevious: [],
    };
    const byHistory = { contentFrom: "history" as const, history: { tag: "v0.13.0", commit: "aaaaaaaaaaaa" } };
    const change: DefinitionChange = {
        input: "requirements",
        path: "truss/templates/server/requirements.txt",
        jobType: "server",
        since: { tag: "v0.13.0", commit: "aaaaaaaaaaaa" },
        commits: ["bbbbbbbbbbbb", "cccccccccccc"],
        requirements: {
            added: [],
            removed: [],
            changed: [{ name: "numpy", from: "numpy<2", to: "numpy<3" }],
            options: { added: [], removed: [] },
        },
    };

    it("drift (conflicts only by history): bump-needed, exit 3 under strict and 0 under advisory, naming the file, the tag's commit and the commits", () => {
        const images = [
            { action: "conflict" as const, ...byHistory },
            { action: "unchanged" as const, ...byHistory },
        ];
        const p = { ...base, images, versionTagCommit: { short: "aaaaaaaaaaaa" }, changesSinceTag: [change] };
        const strict = gateDecision({ ...p, policy: "strict" });
        assert.deepEqual([strict.verdict, strict.exitCode, strict.drift], ["bump-needed", 3, true]);
        assert.match(
            strict.explanation,
            /Changed since v0\.13\.0 \(set in aaaaaaaaaaaa\): truss\/templates\/server\/requirements\.txt \(commits bbbbbbbbbbbb, cccccccccccc\)\. Bump TRUSS_BASE_IMAGE_VERSION_TAG \(\/src\/truss\/truss\/contexts\/image_builder\/util\.py\)/,
        );
        assert.deepEqual(strict.changes, [change]);
        const advisory = gateDecision({ ...p, policy: "advisory" });
        assert.deepEqual([advisory.verdict, advisory.exitCode], ["bump-needed", 0]);
        assert.match(advisory.explanation, /Policy advisory/);
    });

    it("a conflict by content label is never drift: advisory still exits 3", () => {
        const images = [
            { action: "conflict" as const, contentFrom: "label" as const },
            { action: "conflict" as const, ...byHistory },
        ];
        const d = gateDecision({ ...base, images, policy: "advisory" });
        assert.deepEqual([d.verdict, d.exitCode, d.drift], ["bump-needed", 3, false]);
        assert.match(d.explanation, /2 tags of v0\.13\.0 already hold other content \(1 by content label, 1 by history/);
    });

    it("a re-tag that only history vouches for is a build in a publish verdict (pulumi up verifies by label), but makes a needless bump", () => {
        const retag = { action: "retag" as const, source: "r/truss-server-base:3.9-v0.12.0", contentFrom: "history" as const };
        const publish = gateDecision({ ...base, images: [retag, { action: "build" }], policy: "strict" });
        assert.equal(publish.verdict, "publish");
        assert.match(publish.explanation, /will build 2 and re-tag 0/);
        const needless = gateDecision({
            ...base,
            images: [retag, retag],
            previous: { tag: "v0.12.0", short: "dddddddddddd" },
            policy: "strict",
        });
        assert.deepEqual([needless.verdict, needless.exitCode], ["needless-bump", 3]);
        assert.match(
            needless.explanation,
            /already published \(v0\.12\.0\) \(2 by history: .* the checkout at dddddddddddd, which set v0\.12\.0, defined the same images\)/,
        );
    });

    it("new images next to tags of the same version without a content label: bump-needed (pulumi up cannot publish beside them)", () => {
        const d = gateDecision({ ...base, images: [{ action: "unchanged", ...byHistory }, { action: "build" }], policy: "strict" });
        assert.deepEqual([d.verdict, d.exitCode, d.drift], ["bump-needed", 3, true]);
        assert.match(
            d.explanation,
            /1 image of v0\.13\.0 is not published, while 1 tag of v0\.13\.0 was published without a content label/,
        );
    });

    it("up-to-date by history names the commit that set the tag", () => {
        const d = gateDecision({
            ...base,
            images: [{ action: "unchanged", ...byHistory }],
            versionTagCommit: { short: "aaaaaaaaaaaa" },
            policy: "strict",
        });
        assert.deepEqual([d.verdict, d.exitCode], ["up-to-date", 0]);
        assert.match(d.explanation, /Nothing that goes into them changed since v0\.13\.0 was set in aaaaaaaaaaaa\./);
    });
});

describe("requirement-level differences", () => {
    it("added, removed and changed pins by normalized name; options apart; comments and blank lines ignored", () => {
        const before = "# deps\n-i https://pypi.org/simple\naiofiles>=24.1.0\nNumPy>=1.23.5,<2.0  # below 2\npython_json_logger>=2.0.2\n";
        const after = "--extra-index-url https://x.example/simple\nnumpy>=1.26\npython-json-logger>=2.0.2\nhttpx==0.27.0\n\n";
        assert.deepEqual(requirementsDiff(before, after), {
            added: ["httpx==0.27.0"],
            removed: ["aiofiles>=24.1.0"],
            changed: [{ name: "numpy", from: "NumPy>=1.23.5,<2.0", to: "numpy>=1.26" }],
            options: { added: ["--extra-index-url https://x.example/simple"], removed: ["-i https://pypi.org/simple"] },
        });
    });
});
