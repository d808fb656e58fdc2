// images/'s CPU Dockerfile built for real: the project's own Dockerfile.cpu and requirements,
// staged as the program stages them, built by the Docker daemon on the stand-in python:<X>
// parents with real pip installs (and the control server's venv for a live-reload variant), then
// the project's smoke test and a C extension compiled in the image. Two images cover both job
// types, both stand-in pythons and both reload variants: server on 3.11 with live reload, training
// on 3.13 without. (Server images on 3.13 need numpy<2.0 raised first, as images/catalog.yaml says.)
import { strict as assert } from "assert";
import { loadCatalog } from "../../src/images/catalog";
import { loadStack } from "../../src/config/definition";
import { SECRET_PRESENT } from "../../src/config/stackConfig";
import { planImages, PlannedImage } from "../../src/publish/plannedImages";
import { ensureDockerDaemon } from "../support/docker";
import { PROJECT_DIR } from "../support/fixtures";
import { buildPlanned, compileExtension, runSmokeTest, standInParents } from "../support/realBuilds";

const PYTHON = "/usr/local/bin/python3";
const WANTED = [
    { jobType: "server", python: "3.11", liveReload: true },
    { jobType: "training", python: "3.13", liveReload: false },
];

describe("integration: images/'s CPU images built for real on the stand-in parents (real pip, smoke-tested)", function () {
    const built = new Map<PlannedImage, string | Error>();
    // Kept after the run (a name of the tests' own): the next run finds every layer in the cache.
    const localRef = (image: PlannedImage): string => `truss-base-images-test/images-real:${image.tag}`;

    before(async function () {
        this.timeout(40 * 60_000);
        await ensureDockerDaemon();
        const catalog = loadCatalog();
        const parents = await standInParents(["3.11", "3.13"]);
        const { config } = loadStack(
            {
                versionTag: "v0.0.0-test",
                registry: { server: "docker.io", namespace: "baseten" },
                matrix: { jobTypes: ["server", "training"], pythonVersions: ["3.11", "3.13"], gpu: [false], liveReload: [false, true] },
                builders: { mode: "local" },
                parents,
                registryPassword: SECRET_PRESENT,
            },
            { projectDir: PROJECT_DIR, source: "test" },
        );
        const plan = planImages(config, catalog).filter((i) =>
            WANTED.some((w) => w.jobType === i.spec.jobType && w.python === i.spec.python && w.liveReload === i.spec.liveReload),
        );
        assert.equal(plan.length, WANTED.length);
        await Promise.all(
            plan.map(async (image) => {
                try {
                    await buildPlanned(image, localRef(image));
                    built.set(image, localRef(image));
                } catch (e) {
                    built.set(image, e as Error);
                }
            }),
        );
    });

    for (const w of WANTED) {
        describe(`${w.jobType}, python ${w.python}, live reload ${w.liveReload ? "on" : "off"}`, () => {
            function image(): { ref: string; planned: PlannedImage } {
                const entry = [...built].find(([p]) => p.spec.jobType === w.jobType && p.spec.python === w.python);
                if (!entry) throw new Error("not built");
                if (entry[1] instanceof Error) throw entry[1];
                return { ref: entry[1], planned: entry[0] };
            }

            const control = w.liveReload ? ", and the control venv's" : "";
            it(`passes the project's smoke test: python, pip check, venv, tools, every requirement imports${control}`, async function () {
                this.timeout(5 * 60_000);
                const { ref, planned } = image();
                const r = await runSmokeTest(ref, planned);
                assert.equal(r.code, 0, r.output);
                if (w.liveReload) assert.match(r.output, /== import flask in \/control\/\.env\n/);
                assert.match(r.output, /== smoke test passed/);
            });

            it("compiles a C extension against the image's python headers with its gcc, and imports it", async function () {
                this.timeout(5 * 60_000);
                assert.equal(await compileExtension(image().ref, PYTHON), "42");
            });
        });
    }
});
