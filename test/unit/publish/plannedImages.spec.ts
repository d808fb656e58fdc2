import { strict as assert } from "assert";
import { loadCatalog } from "../../../src/images/catalog";
import { parseStackConfig } from "../../../src/config/stackConfig";
import { layerLeaders, planImages } from "../../../src/publish/plannedImages";

import { wholeImagesRaw } from "../../support/fixtures";

const WHOLE_MATRIX = wholeImagesRaw();

describe("build order: images that share their first layers", () => {
    const catalog = loadCatalog();
    const prod = parseStackConfig(WHOLE_MATRIX, catalog, "test");

    it("32 images of images/: one leader per python and accelerator, and every other image follows its group's leader", () => {
        const plan = planImages(prod, catalog);
        const followers = layerLeaders(plan);
        assert.equal(plan.length - followers.size, 4 * 2, "4 pythons x cpu/gpu");
        for (const [follower, leader] of followers) {
            const f = plan.find((p) => p.reference === follower)!;
            const l = plan.find((p) => p.reference === leader)!;
            assert.equal(f.spec.python, l.spec.python);
            assert.equal(f.spec.accelerator, l.spec.accelerator);
            assert.ok(plan.indexOf(l) < plan.indexOf(f), "a leader comes first in the plan");
            assert.equal(followers.has(leader), false, "leaders follow no one: no chains, no cycles");
        }
        assert.equal(
            followers.get("docker.io/baseten/truss-training-base:3.10-gpu-reload-v0.2.2"),
            "docker.io/baseten/truss-server-base:3.10-gpu-v0.2.2",
        );
    });

    it("only images to build take part: a follower whose leader is published leads its own group", () => {
        const plan = planImages(prod, catalog).filter((p) => p.spec.jobType === "training");
        const followers = layerLeaders(plan);
        assert.equal(
            followers.get("docker.io/baseten/truss-training-base:3.9-reload-v0.2.2"),
            "docker.io/baseten/truss-training-base:3.9-v0.2.2",
        );
    });

    it("a pinned parent starts a group of its own", () => {
        const pinned = parseStackConfig(
            {
                ...WHOLE_MATRIX,
                parents: { "python:3.9": `python:3.9@sha256:${"a".repeat(64)}` },
            },
            catalog,
            "test",
        );
        const a = planImages(pinned, catalog).find((p) => p.tag === "3.9-reload-v0.2.2" && p.spec.jobType === "server")!;
        const followers = layerLeaders([
            ...planImages(prod, catalog).filter((p) => p.tag === "3.9-v0.2.2" && p.spec.jobType === "server"),
            a,
        ]);
        assert.equal(followers.size, 0, "different parents share no layers");
    });
});
