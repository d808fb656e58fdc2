import * as assert from "assert";
import { loadCatalog } from "../../../src/images/catalog";
import { parseStackConfig } from "../../../src/config/stackConfig";
import type { ImageSpec, RegistryTarget } from "../../../src/images/spec";
import { DOCKER_TAG, imageReference, longestVariantPrefix, repository, tag } from "../../../src/images/naming";
import { planImages } from "../../../src/publish/plannedImages";
import { allSpecs, committedRawConfig, committedStack, specKey } from "../../support/fixtures";

const DOCKER_HUB: RegistryTarget = { server: "docker.io", namespace: "baseten" };
const LOCAL: RegistryTarget = { server: "localhost:5000", namespace: "baseten" };

const spec = (jobType: string, python: string, gpu: boolean, liveReload: boolean): ImageSpec => ({
    jobType,
    python,
    accelerator: gpu ? "gpu" : "cpu",
    liveReload,
});

describe("image names and tags (the format Truss looks base images up by)", () => {
    const catalog = loadCatalog();

    // Written out by hand: these are the names Truss and its users already know.
    const examples: [RegistryTarget, ImageSpec, string, string][] = [
        [DOCKER_HUB, spec("server", "3.9", true, false), "v0.2.2", "docker.io/baseten/truss-server-base:3.9-gpu-v0.2.2"],
        [DOCKER_HUB, spec("server", "3.8", false, true), "v0.2.2", "docker.io/baseten/truss-server-base:3.8-reload-v0.2.2"],
        [DOCKER_HUB, spec("server", "3.9", true, true), "v0.2.2", "docker.io/baseten/truss-server-base:3.9-gpu-reload-v0.2.2"],
        [DOCKER_HUB, spec("server", "3.9", false, false), "v0.2.2", "docker.io/baseten/truss-server-base:3.9-v0.2.2"],
        [DOCKER_HUB, spec("training", "3.10", false, false), "v0.4.8rc0", "docker.io/baseten/truss-training-base:3.10-v0.4.8rc0"],
        [DOCKER_HUB, spec("training", "3.11", true, true), "v0.4.8rc0", "docker.io/baseten/truss-training-base:3.11-gpu-reload-v0.4.8rc0"],
        [LOCAL, spec("server", "3.12", true, false), "dev", "localhost:5000/baseten/truss-server-base:3.12-gpu-dev"],
        [LOCAL, spec("training", "3.14", false, true), "dev", "localhost:5000/baseten/truss-training-base:3.14-reload-dev"],
    ];
    for (const [registry, s, version, expected] of examples) {
        it(`names ${specKey(s)} ${version} on ${registry.server} ${expected}`, () => {
            assert.strictEqual(imageReference(registry, s, version), expected);
            const [repo, t] = expected.split(/:(?=[^:]*$)/);
            assert.strictEqual(repository(registry, s.jobType), repo);
            assert.strictEqual(tag(s, version), t);
        });
    }

    it("names every image of the catalog <server>/<namespace>/truss-<jobType>-base:<py>[-gpu][-reload]-<versionTag>", () => {
        const specs = allSpecs(catalog);
        assert.strictEqual(specs.length, 2 * 7 * 2 * 2, "2 job types x 7 pythons x cpu/gpu x reload off/on");
        const seen = new Set<string>();
        for (const registry of [DOCKER_HUB, LOCAL, { server: "registry.example.com", namespace: "team/sub" }]) {
            for (const s of specs) {
                const py = s.python;
                const gpu = s.accelerator === "gpu" ? "-gpu" : "";
                const reload = s.liveReload ? "-reload" : "";
                const expectedTag = `${py}${gpu}${reload}-v0.2.2`;
                const expectedRepo = `${registry.server}/${registry.namespace}/truss-${s.jobType}-base`;
                assert.strictEqual(tag(s, "v0.2.2"), expectedTag, specKey(s));
                assert.strictEqual(repository(registry, s.jobType), expectedRepo, specKey(s));
                assert.strictEqual(imageReference(registry, s, "v0.2.2"), `${expectedRepo}:${expectedTag}`, specKey(s));
                assert.match(tag(s, "v0.2.2"), DOCKER_TAG);
                seen.add(imageReference(registry, s, "v0.2.2"));
            }
        }
        assert.strictEqual(seen.size, 3 * specs.length, "two different images never share a reference");
    });

    it("the dev stack publishes exactly these four references", () => {
        const config = parseStackConfig(committedRawConfig("dev"), catalog, "Pulumi.dev.yaml");
        assert.deepStrictEqual(
            planImages(config, catalog).map((p) => p.reference),
            [
                "localhost:5000/baseten/truss-server-base:3.9-dev",
                "localhost:5000/baseten/truss-server-base:3.9-gpu-dev",
                "localhost:5000/baseten/truss-training-base:3.9-dev",
                "localhost:5000/baseten/truss-training-base:3.9-gpu-dev",
            ],
        );
    });

    it("the prod stack (on the fixture Truss checkout) publishes fully qualified Docker Hub references under the checkout's tag, each once", () => {
        const { config, catalog: truss } = committedStack("prod");
        const planned = planImages(config, truss);
        const refs = planned.map((p) => p.reference);
        assert.strictEqual(new Set(refs).size, refs.length);
        assert.ok(refs.includes("docker.io/baseten/truss-server-base:3.9-gpu-v0.13.0"));
        assert.ok(refs.includes("docker.io/baseten/truss-server-base:3.14-v0.13.0"));
        for (const p of planned) {
            assert.match(p.reference, /^docker\.io\/baseten\/truss-server-base:3\.\d+(-gpu)?-v0\.13\.0$/);
            assert.strictEqual(`${p.repository}:${p.tag}`, p.reference);
        }
    });

    it("the longest tag prefix is the one of the longest python, with gpu and reload", () => {
        assert.strictEqual(longestVariantPrefix(["3.9"]), "3.9-gpu-reload-");
        assert.strictEqual(longestVariantPrefix(["3.9", "3.10", "3.8"]), "3.10-gpu-reload-");
    });
});
