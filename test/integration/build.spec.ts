// Integration: 32 images of images/ (both job types, four pythons, cpu/gpu, reload off/on), built for real by a Docker daemon from its staged
// context with the project's own Dockerfiles, against stub parent images (nothing can be pulled
// here). Asserts on what a user of the images would see: labels, environment, the python Truss
// finds, the requirements installed, the control venv of the live-reload variants.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadCatalog } from "../../src/images/catalog";
import { parseStackConfig } from "../../src/config/stackConfig";
import { writeContext } from "../../src/images/context";
import { LABELS } from "../../src/images/labels";
import { repositoryName, stagingReference } from "../../src/images/naming";
import { PlannedImage, planImages } from "../../src/publish/plannedImages";
import { buildCommandArgs, docker, ensureDockerDaemon } from "../support/docker";
import { mockOutputs, recorded, valueOf } from "../support/pulumiMocks";
import { declareMockStack, flatConfig } from "../support/stacks";
import {
    ensureStubParents,
    stubParentOverrides,
    STUB_APT_INSTALLED,
    STUB_CALLS_LOG,
    STUB_STDIN_LOG,
    stubInstalledRequirements,
    stubPythonVersionLine,
} from "../support/stubParents";
import { wholeImagesRaw } from "../support/fixtures";

/**
 * Builds at once. They mostly wait on the daemon (containers, commits, vfs copies), not on the
 * 2 cores: the 32 images took 204 s one at a time, 110 s two, 57 s four and 50 s six at a time.
 */
const CONCURRENCY = 4;
/** Set to keep the built images (and so Docker's layer cache) after the run. */
const KEEP_IMAGES = process.env.TRUSS_IT_KEEP_IMAGES === "1";
/** The CUDA user-space libraries every GPU image installs (what Truss's GPU model images load). */
const CUDA_PACKAGES = [
    "cuda-command-line-tools-12-8",
    "libcublas-12-8",
    "libcublas-dev-12-8",
    "libcufft-12-8",
    "libcurand-12-8",
    "libcusolver-12-8",
    "libcusparse-12-8",
    "libcudnn8=8.9.7.29-1+cuda12.2",
    "libgomp1",
    "ca-certificates",
];
/** What Truss's model images assume a GPU base image has, beyond python and CUDA. */
const GPU_TOOLS = ["bash", "build-essential", "git", "curl", "ca-certificates", "software-properties-common"];
/** The CUDA settings of Truss's GPU base images. */
const GPU_ENV = ["CUDNN_VERSION=8.9.7.29", "CUDA=12.8"];
const DEFAULT_GET_PIP_URL = "https://bootstrap.pypa.io/get-pip.py";

/** What a built image shows from outside (inspect) and inside (its files, its python). */
interface Built {
    readonly labels: Record<string, string>;
    readonly env: string[];
    readonly platform: string;
    /** Path -> content; a folder maps to "<dir>", a missing path is absent. */
    readonly files: Map<string, string>;
    /** `<python> --version` output. */
    readonly pythonVersion: string;
    /** The image's layer digests, bottom first. */
    readonly layers: string[];
}

function pythonPath(image: PlannedImage): string {
    // The two paths Truss looks python up at.
    return image.spec.accelerator === "gpu" ? "/usr/bin/python3" : "/usr/local/bin/python3";
}

function pythonPrefix(image: PlannedImage): string {
    return image.spec.accelerator === "gpu" ? "/usr" : "/usr/local";
}

function probedPaths(image: PlannedImage): string[] {
    const py = image.spec.python;
    return [
        stubInstalledRequirements(pythonPrefix(image), py),
        stubInstalledRequirements("/control/.env", py),
        "/control",
        "/control/.env/bin/python",
        "/control/.env/bin/pip",
        "/control/.env/pyvenv.cfg",
        `${pythonPrefix(image)}/lib/python${py}/site-packages/pip/INSTALLER`,
        "/root/.cache/pip",
        "/tmp/truss-base",
        STUB_APT_INSTALLED,
        STUB_CALLS_LOG,
        STUB_STDIN_LOG,
    ];
}

// Prints each path as `@@@DIR p`, `@@@FILE p` + content, or `@@@MISSING p`, then the python's --version.
const PROBE = `
py=$1; shift
for f in "$@"; do
  if [ -d "$f" ]; then printf '@@@DIR %s\\n' "$f"
  elif [ -e "$f" ]; then printf '@@@FILE %s\\n' "$f"; cat "$f"
  else printf '@@@MISSING %s\\n' "$f"; fi
done
printf '@@@PYTHON\\n'; "$py" --version 2>&1 || printf 'exit %s\\n' "$?"
`;

async function inspectBuilt(reference: string, image: PlannedImage): Promise<Built> {
    const inspect = JSON.parse((await docker(["image", "inspect", reference])).stdout)[0];
    const out = (
        await docker([
            "run",
            "--rm",
            "--network",
            "host",
            "--entrypoint",
            "/bin/sh",
            reference,
            "-c",
            PROBE,
            "probe",
            pythonPath(image),
            ...probedPaths(image),
        ])
    ).stdout;
    const files = new Map<string, string>();
    const [listing, pythonVersion = ""] = out.split("@@@PYTHON\n");
    for (const section of listing.split(/^(?=@@@)/m)) {
        const m = /^@@@(DIR|FILE|MISSING) (.*)\n?/.exec(section);
        if (!m) continue;
        if (m[1] === "DIR") files.set(m[2], "<dir>");
        if (m[1] === "FILE") files.set(m[2], section.slice(m[0].length));
    }
    return {
        labels: inspect.Config.Labels ?? {},
        env: inspect.Config.Env ?? [],
        platform: `${inspect.Os}/${inspect.Architecture}`,
        files,
        pythonVersion: pythonVersion.trim(),
        layers: inspect.RootFS?.Layers ?? [],
    };
}

/** Non-empty, non-comment lines. */
function lines(text: string | undefined): string[] {
    return (text ?? "")
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"));
}

/** Calls of one command in the stub log, each as its argument list. */
function callsOf(log: string | undefined, command: string): string[][] {
    return (log ?? "")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.split("\t"))
        .filter(([c]) => c === command)
        .map(([, ...args]) => args);
}

async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
        while (next < items.length) await work(items[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
}

describe("integration: the docker build the tests run is the one the Pulumi program declares", () => {
    it("passes exactly the inputs of each docker.Image of the prod stack on the fixture Truss checkout (declared under mocks, builders.network host)", async () => {
        const IMAGE_TYPE = "docker:index/image:Image";
        // linux/amd64 alone: prod's linux/arm64 images would need QEMU emulation on this daemon, which it lacks.
        const matrix = { ...(JSON.parse(flatConfig("prod")["truss-base-images:matrix"]) as object), platforms: ["linux/amd64"] };
        const stack = declareMockStack("prod", {
            overrides: { "truss-base-images:builders": { mode: "local", network: "host" }, "truss-base-images:matrix": matrix },
        });
        mockOutputs(IMAGE_TYPE, (args) => ({
            repoDigest: `${String(args.inputs.imageName).replace(/:[^:/]+$/, "")}@sha256:${"ab".repeat(32)}`,
        }));
        await valueOf(stack.output);
        fs.rmSync(stack.projectDir, { recursive: true, force: true });
        const declared = recorded().filter((r) => r.type === IMAGE_TYPE);
        assert.equal(declared.length, stack.plan.length);
        for (const r of declared) {
            const reference = r.inputs.imageName as string;
            const build = r.inputs.build as {
                context: string;
                dockerfile: string;
                platform: string;
                args: Record<string, string>;
                network: string;
                builderVersion: string;
            };
            // An input added to docker.Image's build (a target, a cache source) must reach buildCommandArgs too.
            assert.deepEqual(Object.keys(build).sort(), ["args", "builderVersion", "context", "dockerfile", "network", "platform"]);
            assert.equal(build.builderVersion, "BuilderV1", "the classic builder, as DOCKER_BUILDKIT=0 here");
            const fromPulumi = [
                "build",
                "--platform",
                build.platform,
                ...Object.keys(build.args)
                    .sort()
                    .flatMap((k) => ["--build-arg", `${k}=${build.args[k]}`]),
                "-f",
                build.dockerfile,
                "--network",
                build.network,
                "-t",
                reference,
                build.context,
            ];
            const planned = stack.plan.find((p) => stagingReference(p.repository, p.contentDigest) === reference);
            assert.ok(planned, `${reference} is not planned`);
            assert.deepEqual(buildCommandArgs(planned.staged, build.context, reference), fromPulumi);
        }
    });
});

describe("integration: 32 images of images/ build from their staged contexts with the real Dockerfiles (on stub parents)", function () {
    const catalog = loadCatalog();
    const config = parseStackConfig({ ...wholeImagesRaw(), parents: stubParentOverrides(catalog) }, catalog, "test");
    const plan = planImages(config, catalog);
    // Built under a repository of this test run's own (runs may overlap); the tag is the planned one.
    const localRef = (image: PlannedImage): string =>
        `truss-base-images-it-build-${process.pid}/${repositoryName(image.spec.jobType)}:${image.tag}`;
    const built = new Map<string, Built | Error>();
    let root = "";

    before(async function () {
        this.timeout(30 * 60_000);
        await ensureDockerDaemon();
        await ensureStubParents(catalog);
        root = fs.mkdtempSync(path.join(os.tmpdir(), "truss-it-build-"));
        const started = Date.now();
        await inBatches(plan, CONCURRENCY, async (image) => {
            try {
                const dir = writeContext(root, image.staged);
                // --force-rm: a failing build leaves no container behind (not an input of the image).
                await docker(["build", "--force-rm", ...buildCommandArgs(image.staged, dir, localRef(image)).slice(1)]);
                built.set(image.reference, await inspectBuilt(localRef(image), image));
            } catch (e) {
                built.set(image.reference, e as Error);
            }
        });
        console.log(
            `      built and inspected ${plan.length} images in ${((Date.now() - started) / 1000).toFixed(1)} s (${CONCURRENCY} at a time)`,
        );
    });

    after(async function () {
        this.timeout(10 * 60_000);
        if (root) fs.rmSync(root, { recursive: true, force: true });
        if (!KEEP_IMAGES) {
            await docker(["image", "rm", ...plan.map(localRef)], { allowFailure: true });
        }
    });

    function result(image: PlannedImage): Built {
        const r = built.get(image.reference);
        if (r === undefined) throw new Error(`${image.reference} was not built`);
        if (r instanceof Error) throw r;
        return r;
    }

    it("plans every job type, python, accelerator and reload variant", () => {
        const m = config.matrix;
        assert.equal(plan.length, m.jobTypes.length * m.pythonVersions.length * m.gpu.length * m.liveReload.length);
        assert.equal(new Set(plan.map((i) => i.reference)).size, plan.length);
    });

    it("gives every image its own content digest label", () => {
        const digests = plan.map((image) => result(image).labels[LABELS.contentDigest]);
        assert.equal(new Set(digests).size, plan.length, `some images share a content digest: ${digests.join(", ")}`);
    });

    it("builds a reload variant on the layers of its non-reload twin (one CUDA layer per python, not two)", async function () {
        this.timeout(5 * 60_000);
        // Built one after the other, as a runner's layer cache sees them (concurrent builds of the
        // same step each make their own layer, so the batch above proves nothing about sharing).
        for (const accelerator of ["gpu", "cpu"] as const) {
            const twins = plan.filter(
                (i) =>
                    i.spec.jobType === "server" && i.spec.python === config.matrix.pythonVersions[0] && i.spec.accelerator === accelerator,
            );
            assert.equal(twins.length, 2);
            const layers: string[][] = [];
            for (const image of twins.sort((a, b) => Number(a.spec.liveReload) - Number(b.spec.liveReload))) {
                const ref = `${localRef(image)}-twin`;
                const dir = writeContext(root, image.staged);
                await docker(["build", "--force-rm", ...buildCommandArgs(image.staged, dir, ref).slice(1)]);
                layers.push(JSON.parse((await docker(["image", "inspect", ref])).stdout)[0].RootFS.Layers);
                await docker(["image", "rm", ref], { allowFailure: true });
            }
            const [plain, reload] = layers;
            assert.equal(plain.length, reload.length);
            // The last two layers are the live-reload steps (the context copy and the venv); everything below is shared.
            assert.deepEqual(
                reload.slice(0, -2),
                plain.slice(0, -2),
                `${accelerator}: the reload variant does not reuse its twin's layers`,
            );
            assert.notDeepEqual(reload.slice(-2), plain.slice(-2));
        }
    });

    for (const image of plan) {
        const { jobType, python, accelerator, liveReload } = image.spec;

        describe(image.reference, () => {
            it("builds, for the catalog's platform", () => {
                assert.equal(result(image).platform, catalog.platform);
            });

            it("carries the image labels (src/images/labels.ts), with the planned content digest and no version tag", () => {
                const { labels } = result(image);
                const expected: Record<string, string> = {
                    [LABELS.title]: `truss-${jobType}-base`,
                    [LABELS.source]: catalog.source,
                    [LABELS.contentDigest]: image.contentDigest,
                    [LABELS.jobType]: jobType,
                    [LABELS.pythonVersion]: python,
                    [LABELS.accelerator]: accelerator,
                    [LABELS.liveReload]: String(liveReload),
                };
                for (const [name, value] of Object.entries(expected)) {
                    assert.equal(labels[name], value, `label ${name}`);
                }
                assert.match(labels[LABELS.contentDigest], /^sha256:[0-9a-f]{64}$/);
                for (const [name, value] of Object.entries(labels)) {
                    assert.ok(!value.includes(config.versionTag), `label ${name}=${value} holds the version tag ${config.versionTag}`);
                }
            });

            it("sets PYTHONUNBUFFERED=True", () => {
                assert.ok(result(image).env.includes("PYTHONUNBUFFERED=True"), `env: ${result(image).env.join(" ")}`);
            });

            it(`has python ${python} at ${pythonPath(image)}`, () => {
                assert.equal(result(image).pythonVersion, stubPythonVersionLine(python));
            });

            it(`installs exactly the ${jobType} requirements (after upgrading pip), leaving no pip cache or staging folder`, () => {
                const { files } = result(image);
                const requirements = lines(catalog.files.get(catalog.jobTypes.get(jobType)!.requirements)?.toString("utf8"));
                assert.ok(requirements.length > 0);
                assert.deepEqual(lines(files.get(stubInstalledRequirements(pythonPrefix(image), python))), ["pip", ...requirements]);
                assert.equal(files.get("/root/.cache/pip"), undefined, "a pip cache is left in the image");
                assert.equal(files.get("/tmp/truss-base"), undefined, "/tmp/truss-base is left in the image");
            });

            if (liveReload) {
                it("has the control server's requirements in a venv at /control/.env, made with the image's python", () => {
                    const { files } = result(image);
                    const control = lines(catalog.files.get(catalog.liveReload.requirements)?.toString("utf8"));
                    assert.ok(control.length > 0);
                    assert.ok(files.has("/control/.env/bin/python"), "no /control/.env/bin/python");
                    assert.ok(files.has("/control/.env/bin/pip"), "no /control/.env/bin/pip");
                    assert.match(
                        files.get("/control/.env/pyvenv.cfg") ?? "",
                        new RegExp(`^version = ${python.replace(".", "\\.")}\\.`, "m"),
                    );
                    assert.deepEqual(lines(files.get(stubInstalledRequirements("/control/.env", python))), ["pip", ...control]);
                });
            } else {
                it("has no /control folder", () => {
                    assert.equal(result(image).files.get("/control"), undefined);
                });
            }

            if (accelerator === "gpu") {
                it(`asks apt for python${python}, its venv and dev packages, the catalog's extras and the CUDA libraries`, () => {
                    const { files } = result(image);
                    const installed = lines(files.get(STUB_APT_INSTALLED));
                    const extras = catalog.pythonVersions.get(python)!.gpuAptPackages;
                    for (const p of [`python${python}`, `python${python}-venv`, `python${python}-dev`, ...extras, ...CUDA_PACKAGES]) {
                        assert.ok(installed.includes(p), `apt-get did not install ${p}; it installed: ${installed.join(" ")}`);
                    }
                    const otherPythons = installed.filter((p) => {
                        const version = /^python(3\.\d+)(?:-|$)/.exec(p)?.[1];
                        return version !== undefined && version !== python && !extras.includes(p);
                    });
                    assert.deepEqual(otherPythons, [], "apt-get installed packages of another python");
                });

                it("has the tools Truss's model images assume (git, a C toolchain, curl, bash) and the CUDA settings, CUPTI first on LD_LIBRARY_PATH", () => {
                    const installed = lines(result(image).files.get(STUB_APT_INSTALLED));
                    for (const p of GPU_TOOLS) assert.ok(installed.includes(p), `apt-get did not install ${p}`);
                    const env = result(image).env;
                    for (const e of GPU_ENV) assert.ok(env.includes(e), `no ${e} in ${env.join(" ")}`);
                    const ld = env.find((e) => e.startsWith("LD_LIBRARY_PATH="));
                    // The stub parent sets no LD_LIBRARY_PATH (the real one does): CUPTI alone, no empty entry.
                    assert.equal(ld, "LD_LIBRARY_PATH=/usr/local/cuda/extras/CUPTI/lib64");
                });

                it("installs pip with get-pip.py from the catalog's URL for this python", () => {
                    const { files } = result(image);
                    const url = image.staged.buildArgs.GET_PIP_URL ?? DEFAULT_GET_PIP_URL;
                    const curls = callsOf(files.get(STUB_CALLS_LOG), "curl").filter((args) => args.some((a) => a.endsWith("get-pip.py")));
                    assert.deepEqual(
                        curls.map((args) => args[args.length - 1]),
                        [url],
                    );
                    // The stub python records where the get-pip.py it ran came from in pip's INSTALLER.
                    assert.equal(files.get(`/usr/lib/python${python}/site-packages/pip/INSTALLER`), `${url}\n`);
                    assert.match(files.get(STUB_STDIN_LOG) ?? "", /^=== stdin of \S*python3\n# truss-stub get-pip\.py from /m);
                });
            }
        });
    }
});
