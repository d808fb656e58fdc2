// Truss's server base image with its real contents: Truss's own requirements (from the `truss`
// wheel on PyPI at a pinned version, laid out as a checkout with a template of ours that has
// Truss's CPU steps), built by the Docker daemon on the stand-in python:3.11 and python:3.13
// parents with a real `pip install`, then smoke-tested for real: every requirement imports, pip
// and venv work, and the C toolchain compiles an extension against the image's python.
import { strict as assert } from "assert";
import { loadStack } from "../../src/config/definition";
import { SECRET_PRESENT } from "../../src/config/stackConfig";
import { planImages, PlannedImage } from "../../src/publish/plannedImages";
import { docker, ensureDockerDaemon } from "../support/docker";
import { PROJECT_DIR } from "../support/fixtures";
import { buildPlanned, compileExtension, runSmokeTest, standInParents } from "../support/realBuilds";
import { STAND_IN_PYTHONS } from "../support/standIns";
import { TRUSS_VERSION, trussWheelCheckout } from "../support/trussWheel";

const PYTHON = "/usr/local/bin/python3";

describe(`integration: Truss ${TRUSS_VERSION}'s server image, real pip installs on the stand-in parents`, function () {
    const built = new Map<string, string | Error>();
    let plan: PlannedImage[] = [];
    // Kept after the run, under a name of the tests' own: the next run (and the e2e layer, which
    // publishes the same 3.11 image) finds every layer in the daemon's cache instead of running
    // pip again (python 3.13 builds numpy<2.0 from source: it has no wheel for 3.13).
    const localRef = (image: PlannedImage): string => `truss-base-images-test/truss-server-base:${image.tag}`;

    before(async function () {
        this.timeout(40 * 60_000);
        await ensureDockerDaemon();
        const parents = await standInParents(STAND_IN_PYTHONS);
        const { config, catalog } = loadStack(
            {
                versionTag: "v0.13.0",
                registry: { server: "docker.io", namespace: "baseten" },
                truss: { checkout: trussWheelCheckout() },
                matrix: { jobTypes: ["server"], pythonVersions: STAND_IN_PYTHONS, gpu: [false], liveReload: [false] },
                builders: { mode: "local" },
                parents,
                registryPassword: SECRET_PRESENT,
            },
            { projectDir: PROJECT_DIR, source: "test" },
        );
        plan = planImages(config, catalog);
        await Promise.all(
            plan.map(async (image) => {
                try {
                    await buildPlanned(image, localRef(image));
                    built.set(image.spec.python, localRef(image));
                } catch (e) {
                    built.set(image.spec.python, e as Error);
                }
            }),
        );
    });

    function image(python: string): { ref: string; planned: PlannedImage } {
        const r = built.get(python);
        if (r === undefined) throw new Error(`the ${python} image was not built`);
        if (r instanceof Error) throw r;
        return { ref: r, planned: plan.find((p) => p.spec.python === python)! };
    }

    for (const python of STAND_IN_PYTHONS) {
        describe(`python ${python}`, () => {
            it("builds FROM the stand-in parent, with Truss's server requirements installed by pip", async function () {
                this.timeout(5 * 60_000);
                const { ref } = image(python);
                const freeze = (
                    await docker(["run", "--rm", "--network", "none", "--entrypoint", PYTHON, ref, "-m", "pip", "list", "--format=freeze"])
                ).stdout;
                // pip list spells names as installed (truss_transfer, PyYAML): compare normalized.
                const installed = freeze.split("\n").map((l) =>
                    l
                        .split("==")[0]
                        .toLowerCase()
                        .replace(/[-_.]+/g, "-"),
                );
                for (const dist of ["fastapi", "uvicorn", "numpy", "aiohttp", "truss-transfer", "opentelemetry-sdk", "uv"]) {
                    assert.ok(installed.includes(dist), `pip list has no ${dist}:\n${freeze}`);
                }
            });

            it("passes the project's smoke test: os, python, pip check, venv, tools, and every requirement imports", async function () {
                this.timeout(5 * 60_000);
                const { ref, planned } = image(python);
                const r = await runSmokeTest(ref, planned);
                assert.equal(r.code, 0, r.output);
                assert.match(r.output, /== import fastapi\n/);
                assert.match(r.output, /== smoke test passed/);
            });

            it("compiles a C extension against the image's python headers with its gcc, and imports it", async function () {
                this.timeout(5 * 60_000);
                assert.equal(await compileExtension(image(python).ref, PYTHON), "42");
            });
        });
    }
});
