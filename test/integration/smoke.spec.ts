// Smoke tests run for real against the local Docker daemon. The CPU half runs on real images
// (test/support/smokeRealImages.ts): the stand-in python:3.11 and python:3.13 parents with a real
// pip install of exact pins from PyPI. A good image passes every check, and for each check a
// variant that really lacks what it checks (a tool removed, pip removed, a dependency or a package
// uninstalled, ensurepip removed, another interpreter first on PATH; for the version, the real
// python 3.13 image tested as a 3.11 one) fails on exactly that check. The GPU half runs on stubs (test/support/smokeImages.ts), since nothing
// stands in for the nvidia/cuda parent here, and no GPU on these machines: the GPU stub images
// pass every check of the image itself (CUPTI on LD_LIBRARY_PATH, every CUDA library found by the
// linker's search) and then fail at the device check, as they must without a driver.
import * as assert from "assert";
import type { ImageSpec } from "../../src/images/spec";
import { CONTROL_PYTHON, CUPTI_DIR, PYTHON_PATHS, smokeChecks, smokeTestScript, SmokeImports } from "../../src/runners/smoke";
import { runSmokeTest } from "../../src/pulumi/smokeTestProvider";
import { docker, ensureDockerDaemon } from "../support/docker";
import { callSerialized } from "../support/dynamicProviders";
import { buildGpuStubImage, buildVariant, siteOf } from "../support/smokeImages";
import { buildRealCpuImage, SMOKE_PINS } from "../support/smokeRealImages";

const LOCAL = process.env.DOCKER_HOST || "unix:///var/run/docker.sock";
const CPU: ImageSpec = { jobType: "server", python: "3.11", accelerator: "cpu", liveReload: false };
const CPU_313: ImageSpec = { ...CPU, python: "3.13" };
const GPU_RELOAD: ImageSpec = { jobType: "server", python: "3.10", accelerator: "gpu", liveReload: true };
const IMPORTS: SmokeImports = { packages: ["yaml", "pythonjsonlogger", "opentelemetry.sdk"], control: ["flask", "werkzeug"] };
const PREFIX = `truss-base-images-test/smoke-${process.pid}`;

/** Runs the smoke script in the image the way the runner does, without --gpus (no GPU here). */
async function runScript(image: string, spec: ImageSpec): Promise<{ code: number; output: string }> {
    const r = await docker(["run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image, "-c", smokeTestScript(spec, IMPORTS)], {
        allowFailure: true,
    });
    return { code: r.code, output: r.stdout + r.stderr };
}

/** The check a run failed on, and the checks it passed before. */
function outcome(output: string): { failed?: string; passedHeaders: string[] } {
    const failed = /^SMOKE TEST FAILED: (.*)$/m.exec(output)?.[1];
    return { failed, passedHeaders: [...output.matchAll(/^== (.*)$/gm)].map((m) => m[1]) };
}

interface Broken {
    readonly check: string;
    /** Dockerfile instructions, on top of the good image, that take away what the check checks. */
    readonly instructions: string[];
    /** Or: the good image of this other python, as it is, is what fails the check. */
    readonly otherPython?: string;
}

/** Where pip installs in the real CPU image (python:<X>'s /usr/local), and Debian's own packages. */
const CPU_SITE = `/usr/local/lib/python${CPU.python}/dist-packages`;
const DEBIAN_SITE = "/usr/lib/python3/dist-packages";
/** A dependency of opentelemetry-sdk: uninstalled, `pip check` fails on it (and nothing else does before). */
const UNINSTALL_SDK_DEPENDENCY = [
    "RUN python3 -m pip uninstall -y --root-user-action=ignore --disable-pip-version-check opentelemetry-semantic-conventions",
];
const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const gpuSite = siteOf(PYTHON_PATHS.gpu);
const CPU_BREAKS: Broken[] = [
    // /etc/os-release is Debian's symlink to /usr/lib/os-release: written through it.
    { check: "a Debian or Ubuntu /etc/os-release", instructions: [`RUN printf 'ID=alpine\\n' > /etc/os-release`] },
    { check: "python at /usr/local/bin/python3", instructions: ["RUN rm /usr/local/bin/python3"] },
    // A real other interpreter at the path: the good 3.13 image, tested as a 3.11 image.
    { check: "python 3.11 at /usr/local/bin/python3", instructions: [], otherPython: "3.13" },
    {
        // /usr/local/bin/python3 links to /usr/bin/python3 (-> python3.11): a copy of the binary itself, in a folder
        // before /usr/local/bin on PATH, is a python3 that `readlink -f` does not resolve to the same file.
        check: "python3 on PATH is /usr/local/bin/python3",
        instructions: [
            `RUN mkdir -p /opt/other-python/bin && cp /usr/bin/python${CPU.python} /opt/other-python/bin/python3`,
            "ENV PATH=/opt/other-python/bin:$PATH",
        ],
    },
    // Every pip the interpreter can import: python:<X>'s in /usr/local and Debian's python3-pip.
    { check: "pip", instructions: [`RUN rm -r ${CPU_SITE}/pip ${DEBIAN_SITE}/pip`] },
    { check: "pip check (consistent requirements)", instructions: UNINSTALL_SDK_DEPENDENCY },
    // ensurepip is what python3-venv adds to the standard library; without it venv refuses.
    { check: "python3 -m venv", instructions: [`RUN rm -r /usr/lib/python${CPU.python}/ensurepip`] },
    { check: "bash", instructions: ["RUN rm /usr/bin/bash"] },
    { check: "useradd", instructions: ["RUN rm /usr/sbin/useradd"] },
    { check: "curl", instructions: ["RUN rm /usr/bin/curl"] },
    { check: "git", instructions: ["RUN rm /usr/bin/git"] },
    { check: "gcc (a C compiler)", instructions: ["RUN rm /usr/bin/gcc"] },
    { check: "make", instructions: ["RUN rm /usr/bin/make"] },
    // Leaves that nothing else installed requires: `pip check` stays clean.
    {
        check: "import pythonjsonlogger",
        instructions: ["RUN python3 -m pip uninstall -y --root-user-action=ignore --disable-pip-version-check python-json-logger"],
    },
    {
        check: "import opentelemetry.sdk",
        instructions: ["RUN python3 -m pip uninstall -y --root-user-action=ignore --disable-pip-version-check opentelemetry-sdk"],
    },
];
const GPU_BREAKS: Broken[] = [
    { check: `the control server's venv at ${CONTROL_PYTHON}`, instructions: [`RUN rm ${CONTROL_PYTHON}`] },
    { check: "import werkzeug in /control/.env", instructions: [`RUN rm -r ${siteOf(CONTROL_PYTHON)}/werkzeug`] },
    { check: `CUPTI (${CUPTI_DIR}) on LD_LIBRARY_PATH`, instructions: ["ENV LD_LIBRARY_PATH=/usr/local/cuda/lib64"] },
    { check: "load libcupti.so.12", instructions: [`RUN rm ${CUPTI_DIR}/libcupti.so.12`] },
    { check: "load libcudnn.so.8", instructions: ["RUN rm /usr/local/cuda/lib64/libcudnn.so.8"] },
    { check: "import yaml", instructions: [`RUN rm -r ${gpuSite}/yaml`] },
];

describe("smoke tests (real Docker daemon): real CPU images (stand-in parents, real pip installs), stub GPU images", function () {
    this.timeout(300_000);
    // The real CPU images are kept after the run (truss-base-images-test/smoke-real): the next run's
    // build finds the pip install in the layer cache. The GPU stub and every variant are this run's.
    const goodCpus = new Map<string, string>();
    const goodCpu = (python = CPU.python): string => {
        const ref = goodCpus.get(python);
        if (!ref) throw new Error(`no real CPU image for python ${python}`);
        return ref;
    };
    const goodGpu = `${PREFIX}:good-gpu-reload`;
    const made: string[] = [goodGpu];

    before(async function () {
        // Cold: the stand-ins (debootstrap, when not cached) and pip installs from PyPI.
        this.timeout(30 * 60_000);
        await ensureDockerDaemon();
        await Promise.all([
            ...[CPU.python, CPU_313.python].map(async (python) => goodCpus.set(python, await buildRealCpuImage(python))),
            buildGpuStubImage(goodGpu, GPU_RELOAD, IMPORTS),
        ]);
    });

    after(async () => {
        await docker(["rmi", "-f", ...made], { allowFailure: true });
    });

    it("a real CPU image (stand-in python 3.11, real pip installs) that has everything passes every check, through the runner's docker run", async () => {
        const r = await runSmokeTest({
            image: goodCpu(),
            spec: CPU,
            imports: IMPORTS,
            endpoint: { host: LOCAL },
            runner: "local",
            timeoutSeconds: 60,
        });
        const { passedHeaders } = outcome(r.output);
        assert.deepStrictEqual(passedHeaders, [...smokeChecks(CPU, IMPORTS).map((c) => c.name), "smoke test passed"]);
        assert.match(r.output, /== python 3\.11 at \/usr\/local\/bin\/python3\nPython 3\.11\.\d+\n/);
        assert.match(r.output, /== pip\npip \d+\.\d+(\.\d+)? from \/usr\/local\/lib\/python3\.11\/dist-packages\/pip \(python 3\.11\)\n/);
        assert.match(r.output, /== pip check \(consistent requirements\)\nNo broken requirements found\.\n/);
    });

    it("a real CPU image on the stand-in python 3.13 (real pip installs) passes every check of a python 3.13 image", async () => {
        const r = await runScript(goodCpu(CPU_313.python), CPU_313);
        assert.strictEqual(r.code, 0, r.output);
        const { passedHeaders } = outcome(r.output);
        assert.deepStrictEqual(passedHeaders, [...smokeChecks(CPU_313, IMPORTS).map((c) => c.name), "smoke test passed"]);
        assert.match(r.output, /== python 3\.13 at \/usr\/local\/bin\/python3\nPython 3\.13\.\d+\n/);
    });

    it("a stub GPU reload image that has everything passes every check of the image and stops at the device (no GPU here)", async () => {
        const r = await runScript(goodGpu, GPU_RELOAD);
        assert.strictEqual(r.code, 1, r.output);
        const { failed, passedHeaders } = outcome(r.output);
        assert.strictEqual(failed, "the GPU is visible to CUDA", r.output);
        const names = smokeChecks(GPU_RELOAD, IMPORTS).map((c) => c.name);
        assert.deepStrictEqual(passedHeaders, names.slice(0, names.indexOf("the GPU is visible to CUDA") + 1));
    });

    it("the library-only variant (gpu-libraries) of the stub GPU reload image passes every check, without --gpus, on this machine without a GPU", async () => {
        const r = await runSmokeTest({
            image: goodGpu,
            spec: GPU_RELOAD,
            imports: IMPORTS,
            checks: "gpu-libraries",
            endpoint: { host: LOCAL },
            runner: "local",
            timeoutSeconds: 60,
        });
        const { passedHeaders } = outcome(r.output);
        const names = smokeChecks(GPU_RELOAD, IMPORTS, "gpu-libraries").map((c) => c.name);
        assert.ok(names.includes("load libcudart.so.12"), "the CUDA libraries are checked");
        assert.deepStrictEqual(passedHeaders, [...names, "smoke test passed"]);
    });

    for (const [spec, kind, breaks] of [
        [CPU, "real CPU image (stand-in python 3.11, real pip installs)", CPU_BREAKS],
        [GPU_RELOAD, "stub gpu reload image", GPU_BREAKS],
    ] as const) {
        for (const broken of breaks) {
            const how = broken.otherPython ? ` (the real python ${broken.otherPython} image)` : "";
            it(`a ${kind} without what "${broken.check}" checks${how} fails exactly there`, async () => {
                const good = spec.accelerator === "cpu" ? goodCpu(broken.otherPython) : goodGpu;
                let image = good;
                if (broken.instructions.length > 0) {
                    image = `${PREFIX}:${spec.accelerator}-${breaks.indexOf(broken)}`;
                    made.push(image);
                    await buildVariant(image, good, broken.instructions);
                }
                const r = await runScript(image, spec);
                assert.strictEqual(r.code, 1, r.output);
                const { failed, passedHeaders } = outcome(r.output);
                assert.strictEqual(failed, broken.check, r.output);
                const names = smokeChecks(spec, IMPORTS).map((c) => c.name);
                assert.deepStrictEqual(passedHeaders, names.slice(0, names.indexOf(broken.check) + 1), "every check before it passed");
            });
        }
    }

    it("a failure through the runner's docker run names the image, the runner and the check, with the container's output (real CPU image, a dependency uninstalled)", async () => {
        const tag = `${PREFIX}:cpu-broken-pip`;
        made.push(tag);
        await buildVariant(tag, goodCpu(), UNINSTALL_SDK_DEPENDENCY);
        await assert.rejects(
            runSmokeTest({ image: tag, spec: CPU, imports: IMPORTS, endpoint: { host: LOCAL }, runner: "cpu-0", timeoutSeconds: 60 }),
            (e: Error) => {
                assert.strictEqual(e.name, "SmokeTestError");
                assert.ok(e.message.startsWith(`Smoke test of ${tag} on runner cpu-0 failed (exit code 1).`), e.message);
                // pip check's own line, from the container.
                const sdk = `opentelemetry-sdk ${SMOKE_PINS["opentelemetry-sdk"]}`;
                assert.match(
                    e.message,
                    new RegExp(`${escaped(sdk)} requires opentelemetry-semantic-conventions, which is not installed\\.`),
                );
                assert.match(e.message, /SMOKE TEST FAILED: pip check \(consistent requirements\)/);
                return true;
            },
        );
    });

    it("a real CPU image whose first check hangs: the test stops at its timeout, says so, and removes its container", async () => {
        const tag = `${PREFIX}:cpu-hangs`;
        made.push(tag);
        // grep blocks forever opening a FIFO that nothing writes to: a hung check.
        await buildVariant(tag, goodCpu(), ["RUN rm /etc/os-release && mkfifo /etc/os-release"]);
        const running = async () => (await docker(["ps", "-q", "--filter", `ancestor=${tag}`])).stdout.trim();
        try {
            await assert.rejects(
                runSmokeTest({ image: tag, spec: CPU, imports: IMPORTS, endpoint: { host: LOCAL }, runner: "cpu-0", timeoutSeconds: 3 }),
                (e: Error) => {
                    assert.strictEqual(e.name, "SmokeTestError");
                    assert.match(
                        e.message,
                        new RegExp(
                            `^Smoke test of ${tag} on runner cpu-0 did not finish within 3 s; its container truss-smoke-image-[0-9a-f]{8} was removed\\.`,
                        ),
                    );
                    assert.match(e.message, /== a Debian or Ubuntu \/etc\/os-release/, "the output so far is shown");
                    return true;
                },
            );
            assert.strictEqual(await running(), "", "no smoke container is left running on the runner");
        } finally {
            const left = await running();
            if (left) await docker(["rm", "-f", ...left.split("\n")], { allowFailure: true });
        }
    });

    it("works as Pulumi runs it: the serialized smoke-test provider, in a plain node process, on the real CPU image", async () => {
        const inputs = {
            image: goodCpu(),
            digest: "sha256:" + "ab".repeat(32),
            spec: CPU,
            imports: IMPORTS,
            runner: "local",
            host: LOCAL,
            timeoutSeconds: 60,
        };
        const passed = await callSerialized("SmokeTest", "create", [inputs]);
        assert.ok(passed.ok, passed.error);
        assert.strictEqual(passed.result.outs.testedDigest, inputs.digest);
        const failed = await callSerialized("SmokeTest", "create", [{ ...inputs, imports: { packages: ["missing_module"], control: [] } }]);
        assert.strictEqual(failed.ok, false);
        assert.match(failed.error ?? "", /ModuleNotFoundError: No module named 'missing_module'/);
    });
});
