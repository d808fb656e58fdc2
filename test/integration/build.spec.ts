// Integration: the images of images/ built by a Docker daemon from their staged contexts with the
// project's own Dockerfiles, 22 of them:
// - 16 GPU images (both job types, pythons 3.9 to 3.12, reload off/on) on the stub of the
//   nvidia/cuda parent (stubParents.ts: nothing can stand in for CUDA or NVIDIA's repository
//   here): what Dockerfile.gpu asks of apt, pip and get-pip, as the stubs log it.
// - 6 CPU images (both job types and reload variants on python 3.11 and 3.13, less the server
//   images on 3.13) built for real on the Debian stand-ins of python:<X> (standIns.ts), with real
//   pip installs: every requirement installed at a version its specifier allows, the control
//   server's venv, the project's smoke test and a C extension compiled in the image.
// Both also assert what a user of the images sees from outside: platform, labels, environment.
import { strict as assert } from "assert";
import * as fs from "fs";
import { loadCatalog } from "../../src/images/catalog";
import { parseStackConfig } from "../../src/config/stackConfig";
import { LABELS } from "../../src/images/labels";
import { expandMatrix, Matrix } from "../../src/images/matrix";
import { repositoryName, stagingReference, variant } from "../../src/images/naming";
import type { ImageSpec } from "../../src/images/spec";
import { PlannedImage, planImages } from "../../src/publish/plannedImages";
import { CONTROL_PYTHON, PYTHON_PATHS } from "../../src/runners/smoke";
import { buildCommandArgs, docker, ensureDockerDaemon } from "../support/docker";
import { wholeImagesRaw } from "../support/fixtures";
import { mockOutputs, recorded, valueOf } from "../support/pulumiMocks";
import { buildPlanned, checkRequirements, compileExtension, requirementLines, runSmokeTest } from "../support/realBuilds";
import { declareMockStack, flatConfig } from "../support/stacks";
import {
    stubParentOverrides,
    STUB_APT_INSTALLED,
    STUB_CALLS_LOG,
    STUB_STDIN_LOG,
    stubInstalledRequirements,
    stubPythonVersionLine,
} from "../support/stubParents";
import { testParents } from "../support/testParents";

/** The GPU images, on the stub parent: every job type and reload variant of four pythons. */
const GPU_MATRIX: Matrix = {
    jobTypes: ["server", "training"],
    pythonVersions: ["3.9", "3.10", "3.11", "3.12"],
    gpu: [true],
    liveReload: [false, true],
};
/** The CPU images, built for real: the pythons there are stand-ins for. */
const CPU_MATRIX: Matrix = { jobTypes: ["server", "training"], pythonVersions: ["3.11", "3.13"], gpu: [false], liveReload: [false, true] };
/**
 * CPU images of CPU_MATRIX left unbuilt: server on 3.13. images/requirements/server.txt pins
 * numpy<2.0, which has no wheel for python 3.13, so pip would compile numpy from source (about
 * 8 minutes here); images/catalog.yaml says a stack asking for 3.13 server images needs that pin
 * raised first. Raise it there, then drop this.
 */
function unbuiltCpu(spec: ImageSpec): boolean {
    return spec.jobType === "server" && spec.python === "3.13";
}
const GPU_SPECS = expandMatrix(GPU_MATRIX);
const CPU_SPECS = expandMatrix(CPU_MATRIX).filter((spec) => !unbuiltCpu(spec));

/**
 * Stub builds at once. They mostly wait on the daemon (containers, commits, vfs copies), not on
 * the 2 cores: 32 stub images took 204 s one at a time, 110 s two, 57 s four and 50 s six at a time.
 */
const GPU_CONCURRENCY = 4;
/** Real builds at once: pip downloads and unpacks (and may compile), on 2 cores. */
const CPU_CONCURRENCY = 2;
/** Set to keep the GPU stub images after the run (the CPU images are always kept). */
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
}

/** Where the stub python "installs": under /usr, where the GPU image's python is. */
const STUB_PREFIX = "/usr";

/** What a build leaves in the image (or must not): the same probe for both, plus the stubs' logs on the stub. */
function probedPaths(image: PlannedImage): string[] {
    const common = ["/control", "/control/.env/pyvenv.cfg", "/root/.cache/pip", "/tmp/truss-base"];
    if (image.spec.accelerator === "cpu") return common;
    const py = image.spec.python;
    return [
        ...common,
        stubInstalledRequirements(STUB_PREFIX, py),
        stubInstalledRequirements("/control/.env", py),
        "/control/.env/bin/python",
        "/control/.env/bin/pip",
        `${STUB_PREFIX}/lib/python${py}/site-packages/pip/INSTALLER`,
        STUB_APT_INSTALLED,
        STUB_CALLS_LOG,
        STUB_STDIN_LOG,
    ];
}

// Prints each path as `@@@DIR p`, `@@@FILE p` + content (text files only), or `@@@MISSING p`, then the python's --version.
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
            PYTHON_PATHS[image.spec.accelerator],
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

describe(`integration: images/ built from their staged contexts with the real Dockerfiles: ${GPU_SPECS.length} GPU images on the stub parent, ${CPU_SPECS.length} CPU images built for real on the stand-ins`, function () {
    const catalog = loadCatalog();
    const versionTag = String(wholeImagesRaw().versionTag);
    // The stub images are built under a repository of this test run's own (runs may overlap).
    const stubRef = (image: PlannedImage): string =>
        `truss-base-images-it-build-${process.pid}/${repositoryName(image.spec.jobType)}:${image.tag}`;
    // The real images are kept after the run under a name of the tests' own: the next run finds
    // every layer, pip's included, in the daemon's cache.
    const realRef = (image: PlannedImage): string => `truss-base-images-test/images-real:${image.spec.jobType}-${image.tag}`;
    const localRef = (image: PlannedImage): string => (image.spec.accelerator === "gpu" ? stubRef(image) : realRef(image));
    let parents: Record<string, string> = {};
    let gpuPlan: PlannedImage[] = [];
    let cpuPlan: PlannedImage[] = [];
    const built = new Map<string, Built | Error>();

    /** The plan of one matrix of images/ on the test parents. */
    function planOf(matrix: Matrix): PlannedImage[] {
        return planImages(parseStackConfig({ ...wholeImagesRaw(), matrix, parents }, catalog, "test"), catalog);
    }

    async function imageIdOf(ref: string): Promise<string | undefined> {
        const r = await docker(["image", "inspect", "--format", "{{.Id}}", ref], { allowFailure: true });
        return r.code === 0 ? r.stdout.trim() : undefined;
    }

    async function buildAll(what: string, images: readonly PlannedImage[], concurrency: number): Promise<void> {
        const started = Date.now();
        await inBatches(images, concurrency, async (image) => {
            try {
                const ref = localRef(image);
                // A kept image the build replaces (its last steps made again) goes, unless something
                // else holds it (another tag, a child image, a container): runs leave no dangling images.
                const previous = image.spec.accelerator === "cpu" ? await imageIdOf(ref) : undefined;
                await buildPlanned(image, ref);
                if (previous !== undefined && previous !== (await imageIdOf(ref))) {
                    await docker(["image", "rm", previous], { allowFailure: true });
                }
                built.set(image.reference, await inspectBuilt(ref, image));
            } catch (e) {
                built.set(image.reference, e as Error);
            }
        });
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        console.log(`      built and inspected ${images.length} ${what} in ${seconds} s (${concurrency} at a time)`);
    }

    before(async function () {
        this.timeout(40 * 60_000);
        await ensureDockerDaemon();
        // The CPU images' python:<X> on the stand-ins, the GPU images' nvidia/cuda on its stub.
        parents = await testParents(catalog, CPU_MATRIX.pythonVersions);
        gpuPlan = planOf(GPU_MATRIX);
        cpuPlan = planOf(CPU_MATRIX).filter((image) => !unbuiltCpu(image.spec));
        // Side by side: the stub builds wait on the daemon, the real ones mostly on PyPI and pip.
        await Promise.all([
            buildAll("GPU images on the stub parent", gpuPlan, GPU_CONCURRENCY),
            buildAll("CPU images for real on the stand-ins", cpuPlan, CPU_CONCURRENCY),
        ]);
    });

    after(async function () {
        this.timeout(10 * 60_000);
        if (!KEEP_IMAGES && gpuPlan.length > 0) await docker(["image", "rm", ...gpuPlan.map(stubRef)], { allowFailure: true });
    });

    function planned(spec: ImageSpec): PlannedImage {
        const image = [...gpuPlan, ...cpuPlan].find(
            (i) =>
                i.spec.jobType === spec.jobType &&
                i.spec.python === spec.python &&
                i.spec.accelerator === spec.accelerator &&
                i.spec.liveReload === spec.liveReload,
        );
        if (!image) throw new Error(`${spec.jobType} ${variant(spec)} was not planned`);
        return image;
    }

    function result(spec: ImageSpec): Built {
        const image = planned(spec);
        const r = built.get(image.reference);
        if (r === undefined) throw new Error(`${image.reference} was not built`);
        if (r instanceof Error) throw r;
        return r;
    }

    it(`plans the ${GPU_SPECS.length} GPU images FROM the stub parent and the ${CPU_SPECS.length} CPU images FROM the stand-ins, each once`, () => {
        assert.deepEqual(
            gpuPlan.map((i) => i.spec),
            GPU_SPECS,
        );
        assert.deepEqual(
            cpuPlan.map((i) => i.spec),
            CPU_SPECS,
        );
        const all = [...gpuPlan, ...cpuPlan];
        assert.equal(new Set(all.map((i) => i.reference)).size, all.length);
        const stubs = Object.values(stubParentOverrides(catalog));
        for (const image of gpuPlan)
            assert.ok(stubs.includes(image.staged.parent), `${image.reference} builds FROM ${image.staged.parent}`);
        for (const image of cpuPlan) assert.equal(image.staged.parent, parents[`python:${image.spec.python}`], image.reference);
    });

    it("gives every image its own content digest label", () => {
        const specs = [...GPU_SPECS, ...CPU_SPECS];
        const digests = specs.map((spec) => result(spec).labels[LABELS.contentDigest]);
        assert.equal(new Set(digests).size, specs.length, `some images share a content digest: ${digests.join(", ")}`);
    });

    /**
     * Builds the server twins of one python and accelerator one after the other, as a runner's
     * layer cache sees them (concurrent builds of the same step each make their own layer, so the
     * batch above proves nothing about sharing), and compares their layers. The first twin stays
     * until the second is built: the classic builder follows the newest cached child at each
     * step, which after the batch may be another job type's, so the first twin can make layers
     * of its own that only it holds.
     */
    async function assertTwinsShareLayers(accelerator: "cpu" | "gpu", python: string): Promise<void> {
        const twins = [false, true].map((liveReload) => planned({ jobType: "server", python, accelerator, liveReload }));
        const refs = twins.map((image) => `${localRef(image)}-twin-${process.pid}`);
        const layers: string[][] = [];
        try {
            for (const [i, image] of twins.entries()) {
                await buildPlanned(image, refs[i]);
                layers.push(JSON.parse((await docker(["image", "inspect", refs[i]])).stdout)[0].RootFS.Layers);
            }
        } finally {
            await docker(["image", "rm", ...refs], { allowFailure: true });
        }
        const [plain, reload] = layers;
        assert.equal(plain.length, reload.length);
        // The last two layers are the live-reload steps (the context copy and the venv); everything below is shared.
        assert.deepEqual(reload.slice(0, -2), plain.slice(0, -2), `${accelerator}: the reload variant does not reuse its twin's layers`);
        assert.notDeepEqual(reload.slice(-2), plain.slice(-2));
    }

    it(`GPU on the stub parent: builds a reload variant on the layers of its non-reload twin (one CUDA layer per python, not two; server ${GPU_MATRIX.pythonVersions[0]})`, async function () {
        this.timeout(5 * 60_000);
        await assertTwinsShareLayers("gpu", GPU_MATRIX.pythonVersions[0]);
    });

    it("CPU built for real: builds a reload variant on the layers of its non-reload twin (one pip install layer per python, not two; server 3.11)", async function () {
        this.timeout(15 * 60_000);
        await assertTwinsShareLayers("cpu", "3.11");
    });

    /** What every image shows from outside, stub or real. */
    function outsideTests(spec: ImageSpec): void {
        const { jobType, python, accelerator, liveReload } = spec;

        it("builds, for the catalog's platform", () => {
            assert.equal(result(spec).platform, catalog.platform);
        });

        it("carries the image labels (src/images/labels.ts), with the planned content digest and no version tag", () => {
            const { labels } = result(spec);
            const expected: Record<string, string> = {
                [LABELS.title]: `truss-${jobType}-base`,
                [LABELS.source]: catalog.source,
                [LABELS.contentDigest]: planned(spec).contentDigest,
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
                assert.ok(!value.includes(versionTag), `label ${name}=${value} holds the version tag ${versionTag}`);
            }
        });

        it("sets PYTHONUNBUFFERED=True", () => {
            assert.ok(result(spec).env.includes("PYTHONUNBUFFERED=True"), `env: ${result(spec).env.join(" ")}`);
        });

        if (!liveReload) {
            it("has no /control folder", () => {
                assert.equal(result(spec).files.get("/control"), undefined);
            });
        }
    }

    function assertNoLeftovers(contents: Built): void {
        assert.equal(contents.files.get("/root/.cache/pip"), undefined, "a pip cache is left in the image");
        assert.equal(contents.files.get("/tmp/truss-base"), undefined, "/tmp/truss-base is left in the image");
    }

    function assertVenvOf(contents: Built, python: string): void {
        assert.match(contents.files.get("/control/.env/pyvenv.cfg") ?? "", new RegExp(`^version = ${python.replace(".", "\\.")}\\.`, "m"));
    }

    for (const spec of GPU_SPECS) {
        const { jobType, python, liveReload } = spec;
        const pythonPath = PYTHON_PATHS.gpu;

        describe(`${repositoryName(jobType)} ${variant(spec)}, on the stub parent`, () => {
            outsideTests(spec);

            it(`has the stub's python ${python} at ${pythonPath}`, () => {
                assert.equal(result(spec).pythonVersion, stubPythonVersionLine(python));
            });

            it(`asks the stub pip for exactly the ${jobType} requirements (after upgrading pip), leaving no pip cache or staging folder`, () => {
                const { files } = result(spec);
                const requirements = lines(catalog.files.get(catalog.jobTypes.get(jobType)!.requirements)?.toString("utf8"));
                assert.ok(requirements.length > 0);
                assert.deepEqual(lines(files.get(stubInstalledRequirements(STUB_PREFIX, python))), ["pip", ...requirements]);
                assertNoLeftovers(result(spec));
            });

            if (liveReload) {
                it("asks the stub pip for the control server's requirements in a venv at /control/.env, made with the image's python", () => {
                    const { files } = result(spec);
                    const control = lines(catalog.files.get(catalog.liveReload.requirements)?.toString("utf8"));
                    assert.ok(control.length > 0);
                    assert.ok(files.has("/control/.env/bin/python"), "no /control/.env/bin/python");
                    assert.ok(files.has("/control/.env/bin/pip"), "no /control/.env/bin/pip");
                    assertVenvOf(result(spec), python);
                    assert.deepEqual(lines(files.get(stubInstalledRequirements("/control/.env", python))), ["pip", ...control]);
                });
            }

            it(`asks the stub apt for python${python}, its venv and dev packages, the catalog's extras and the CUDA libraries`, () => {
                const { files } = result(spec);
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

            it("asks the stub apt for the tools Truss's model images assume (git, a C toolchain, curl, bash); sets the CUDA settings, CUPTI first on LD_LIBRARY_PATH", () => {
                const installed = lines(result(spec).files.get(STUB_APT_INSTALLED));
                for (const p of GPU_TOOLS) assert.ok(installed.includes(p), `apt-get did not install ${p}`);
                const env = result(spec).env;
                for (const e of GPU_ENV) assert.ok(env.includes(e), `no ${e} in ${env.join(" ")}`);
                const ld = env.find((e) => e.startsWith("LD_LIBRARY_PATH="));
                // The stub parent sets no LD_LIBRARY_PATH (the real one does): CUPTI alone, no empty entry.
                assert.equal(ld, "LD_LIBRARY_PATH=/usr/local/cuda/extras/CUPTI/lib64");
            });

            it("fetches get-pip.py with the stub curl from the catalog's URL for this python and runs it with the stub python", () => {
                const image = planned(spec);
                const { files } = result(spec);
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
        });
    }

    for (const spec of CPU_SPECS) {
        const { jobType, python, liveReload } = spec;
        const pythonPath = PYTHON_PATHS.cpu;
        const requirementsFile = catalog.jobTypes.get(jobType)!.requirements;

        describe(`${repositoryName(jobType)} ${variant(spec)}, built for real on the stand-in python:${python}`, () => {
            /** The image's local name, once it is built. */
            function ref(): string {
                result(spec);
                return realRef(planned(spec));
            }

            /** Every requirement line of `file` is installed, for `interpreter`, at a version its specifier allows. */
            async function assertInstalled(interpreter: string, file: string): Promise<void> {
                const wanted = requirementLines(catalog.files.get(file)?.toString("utf8") ?? "");
                assert.ok(wanted.length > 0, `images/${file} has no requirement`);
                const checks = await checkRequirements(ref(), interpreter, wanted);
                assert.deepEqual(
                    checks.map((c) => c.requirement),
                    wanted,
                );
                const wrong = checks
                    .filter((c) => c.applies && !c.allowed)
                    .map((c) => `${c.requirement}: ${c.installed ?? "not installed"}`);
                assert.deepEqual(wrong, [], `${interpreter} has requirements of images/${file} missing or at a version they exclude`);
            }

            outsideTests(spec);

            it(`has python ${python}.<n> at ${pythonPath}`, () => {
                assert.match(result(spec).pythonVersion, new RegExp(`^Python ${python.replace(".", "\\.")}\\.\\d+$`));
            });

            it(`has every requirement of images/${requirementsFile} installed at a version it allows, and no pip cache or staging folder left`, async function () {
                this.timeout(2 * 60_000);
                await assertInstalled(pythonPath, requirementsFile);
                assertNoLeftovers(result(spec));
            });

            if (liveReload) {
                it(`has a venv at /control/.env made with the image's python, with every requirement of images/${catalog.liveReload.requirements} installed at a version it allows`, async function () {
                    this.timeout(2 * 60_000);
                    assertVenvOf(result(spec), python);
                    await assertInstalled(CONTROL_PYTHON, catalog.liveReload.requirements);
                });
            }

            const control = liveReload ? ", and the control venv's" : "";
            it(`passes the project's smoke test: python, pip check, venv, tools, every requirement imports${control}`, async function () {
                this.timeout(5 * 60_000);
                const r = await runSmokeTest(ref(), planned(spec));
                assert.equal(r.code, 0, r.output);
                if (liveReload) assert.match(r.output, /== import flask in \/control\/\.env\n/);
                assert.match(r.output, /== smoke test passed/);
            });

            it("compiles a C extension against the image's python headers with its gcc, and imports it", async function () {
                this.timeout(5 * 60_000);
                assert.equal(await compileExtension(ref(), pythonPath), "42");
            });
        });
    }
});
