import * as assert from "assert";
import { createHash } from "crypto";
import { loadCatalog } from "../../../src/images/catalog";
import { contentDigestOf, stageImage } from "../../../src/images/context";
import { combinedContentDigest, platformName } from "../../../src/images/platforms";
import { parseStackConfig } from "../../../src/config/stackConfig";
import { planImages } from "../../../src/publish/plannedImages";
import { estargzStagingTag, isStagingTag, proofStagingTag, smokedStagingTag, stagingTag } from "../../../src/images/naming";
import { planItems, planTable } from "../../../src/cli/render";
import { committedRawConfig, committedStack, configErrorOf, wholeImagesRaw } from "../../support/fixtures";

const catalog = loadCatalog();
/** 32 images of images/ on prod's EC2 pools (gpu, cpu, arm64), one platform and gzip unless told. */
const prod = (extra: Record<string, unknown> = {}, matrix: Record<string, unknown> = {}) => {
    const raw = wholeImagesRaw();
    return parseStackConfig(
        { ...raw, builders: committedRawConfig("prod").builders, matrix: { ...(raw.matrix as object), ...matrix }, ...extra },
        catalog,
        "test",
    );
};
const BOTH = ["linux/amd64", "linux/arm64"];

describe("platforms and compression in content digests", () => {
    it("a stack without matrix.platforms plans linux/amd64 alone, and every digest is the one staged before platforms existed", () => {
        const before = planImages(prod(), catalog);
        for (const item of before) {
            assert.deepStrictEqual(
                item.platforms.map((p) => p.platform),
                ["linux/amd64"],
            );
            const staged = stageImage(catalog, item.spec, {});
            // The canonical text without any compression line: what the digest always was.
            assert.equal(item.contentDigest, contentDigestOf(staged.files, staged.buildArgs, staged.parent, "linux/amd64"));
            assert.equal(item.platforms[0].contentDigest, item.contentDigest);
        }
    });

    it("adding linux/arm64 changes no amd64 content digest; the arm64 image has its own", () => {
        const single = planImages(prod(), catalog);
        const multi = planImages(prod({}, { platforms: BOTH }), catalog);
        assert.equal(multi.length, single.length);
        multi.forEach((item, i) => {
            const [amd64, arm64] = item.platforms;
            assert.equal(amd64.platform, "linux/amd64");
            assert.equal(amd64.contentDigest, single[i].contentDigest);
            assert.equal(arm64.platform, "linux/arm64");
            assert.notEqual(arm64.contentDigest, amd64.contentDigest);
            assert.equal(item.reference, single[i].reference, "the tag format does not change");
        });
        assert.equal(new Set(multi.flatMap((i) => i.platforms.map((p) => p.contentDigest))).size, multi.length * 2);
    });

    it("the tag's content digest covers every platform's, in a documented canonical text independent of the config order", () => {
        const [item] = planImages(prod({}, { platforms: BOTH }), catalog);
        const [reversed] = planImages(prod({}, { platforms: [...BOTH].reverse() }), catalog);
        const text =
            "truss-base-images index content digest v1\n" +
            `platform linux/amd64 ${item.platforms[0].contentDigest}\n` +
            `platform linux/arm64 ${item.platforms[1].contentDigest}\n`;
        assert.equal(item.contentDigest, `sha256:${createHash("sha256").update(text).digest("hex")}`);
        assert.equal(reversed.contentDigest, item.contentDigest);
        assert.deepStrictEqual(
            reversed.platforms.map((p) => p.platform),
            [...BOTH].reverse(),
        );
        assert.equal(combinedContentDigest([item.platforms[0]]), item.platforms[0].contentDigest);
    });

    it("eStargz is part of the content digest (its layers differ); gzip adds nothing", () => {
        const gzip = planImages(prod({ compression: "gzip" }), catalog);
        const plain = planImages(prod(), catalog);
        const estargz = planImages(prod({ compression: "estargz" }), catalog);
        gzip.forEach((item, i) => {
            assert.equal(item.contentDigest, plain[i].contentDigest);
            assert.notEqual(estargz[i].contentDigest, item.contentDigest);
            assert.equal(estargz[i].platforms[0].finalStagingTag, `${estargz[i].platforms[0].stagingTag}-estargz`);
            assert.equal(item.platforms[0].finalStagingTag, item.platforms[0].stagingTag);
        });
    });

    it("staging tags are build-<64 hex> of the platform's content digest, outside the published tag format", () => {
        const digest = `sha256:${"0123456789abcdef".repeat(4)}` as const;
        assert.equal(stagingTag(digest), `build-${"0123456789abcdef".repeat(4)}`);
        assert.equal(estargzStagingTag(digest), `build-${"0123456789abcdef".repeat(4)}-estargz`);
        assert.equal(smokedStagingTag(digest), `build-${"0123456789abcdef".repeat(4)}-smoked`);
        assert.ok(isStagingTag(stagingTag(digest)) && isStagingTag(estargzStagingTag(digest)) && isStagingTag(smokedStagingTag(digest)));
        // The rule README's prod set-up gives Docker Hub to make published tags immutable.
        const immutable = /^[0-9].*$/;
        for (const staging of [stagingTag(digest), estargzStagingTag(digest), smokedStagingTag(digest)])
            assert.ok(!immutable.test(staging), `${staging} stays mutable`);
        for (const item of planImages(prod({}, { platforms: BOTH }), catalog)) {
            assert.ok(!isStagingTag(item.tag));
            assert.ok(/^3\./.test(item.tag), "published tags start with the python version, staging tags never do");
            assert.ok(immutable.test(item.tag), `${item.tag} is made immutable by the rule`);
        }
    });

    it("the tag that proves a platform image passed: build-<hex>-smoked with gzip, build-<hex>-estargz (the conversion, after the smoke test) with eStargz; never the build's own", () => {
        const digest = `sha256:${"0123456789abcdef".repeat(4)}` as const;
        assert.equal(proofStagingTag(digest, "gzip"), smokedStagingTag(digest));
        assert.equal(proofStagingTag(digest, "estargz"), estargzStagingTag(digest));
        for (const compression of ["gzip", "estargz"] as const) assert.notEqual(proofStagingTag(digest, compression), stagingTag(digest));
        // With eStargz, the proof is the tag the pipeline already ends with; with gzip it is a tag of its own.
        const [withEstargz] = planImages(prod({ compression: "estargz" }, { platforms: BOTH }), catalog);
        for (const p of withEstargz.platforms) assert.equal(proofStagingTag(p.contentDigest, "estargz"), p.finalStagingTag);
        const [withGzip] = planImages(prod({}, { platforms: BOTH }), catalog);
        for (const p of withGzip.platforms) assert.notEqual(proofStagingTag(p.contentDigest, "gzip"), p.finalStagingTag);
    });

    it("--json items list each platform's content digest and pool", () => {
        const items = planItems(planImages(prod({}, { platforms: BOTH }), catalog));
        const gpu = items.find((i) => i.tag === "3.9-gpu-v0.2.2")!;
        assert.deepStrictEqual(
            gpu.platforms.map((p) => [p.platform, p.pool]),
            [
                ["linux/amd64", "gpu"],
                ["linux/arm64", "arm64"],
            ],
        );
        assert.match(gpu.platforms[1].contentDigest, /^sha256:[a-f0-9]{64}$/);
        assert.match(planTable([gpu]), /gpu\(amd64\),arm64\(arm64\)/, "the table shows each platform's pool");
        const single = planItems(planImages(prod(), catalog)).find((i) => i.tag === "3.9-gpu-v0.2.2")!;
        assert.deepStrictEqual(single.platforms, [{ platform: "linux/amd64", contentDigest: single.contentDigest, pool: "gpu" }]);
    });

    it("Pulumi.prod.yaml opts in: both platforms with eStargz, each of its 12 tags an index of an amd64 and an arm64 image (24 images)", () => {
        const { config, catalog: truss } = committedStack("prod");
        assert.deepStrictEqual(config.matrix.platforms, BOTH);
        assert.equal(config.compression, "estargz");
        const plan = planImages(config, truss);
        assert.equal(plan.length, 12);
        assert.equal(plan.flatMap((i) => i.platforms).length, 24);
        for (const item of plan) {
            assert.deepStrictEqual(
                item.platforms.map((p) => [p.platform, p.pool]),
                [
                    ["linux/amd64", item.spec.accelerator],
                    ["linux/arm64", "arm64"],
                ],
            );
            for (const p of item.platforms) assert.equal(p.finalStagingTag, `${p.stagingTag}-estargz`);
        }
    });

    it("an unknown platform or compression is one config error saying what is allowed", () => {
        const platformErr = configErrorOf(() => prod({}, { platforms: ["linux/s390x"] }));
        assert.match(platformErr.message, /matrix\.platforms\[0\]: .*allowed: linux\/amd64, linux\/arm64, given "linux\/s390x"/);
        const compressionErr = configErrorOf(() => prod({ compression: "zstd" }));
        assert.match(compressionErr.message, /compression: .*"gzip", "estargz"/);
    });

    it("names index platforms as os/architecture, dropping only arm64's v8 variant", () => {
        assert.equal(platformName({ os: "linux", architecture: "arm64", variant: "v8" }), "linux/arm64");
        assert.equal(platformName({ os: "linux", architecture: "arm", variant: "v7" }), "linux/arm/v7");
        assert.equal(platformName({ os: "linux", architecture: "amd64" }), "linux/amd64");
    });
});
