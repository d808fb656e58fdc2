// Smoke tests run for real against the local Docker daemon, on stub images made here
// (test/support/smokeImages.ts): a good image passes every check, and for each check an image
// that misses exactly that one thing fails on exactly that check. No GPU on these machines: the
// GPU stub images pass every check of the image itself (CUPTI on LD_LIBRARY_PATH, every CUDA
// library found by the linker's search) and then fail at the device check, as they must without
// a driver.
import * as assert from "assert";
import type { ImageSpec } from "../../src/images/spec";
import { CONTROL_PYTHON, CUPTI_DIR, PYTHON_PATHS, smokeChecks, smokeTestScript, SmokeImports } from "../../src/runners/smoke";
import { runSmokeTest } from "../../src/pulumi/smokeTestProvider";
import { docker, ensureDockerDaemon } from "../support/docker";
import { callSerialized } from "../support/dynamicProviders";
import { buildGoodImage, buildVariant, siteOf } from "../support/smokeImages";

const LOCAL = process.env.DOCKER_HOST || "unix:///var/run/docker.sock";
const CPU: ImageSpec = { jobType: "server", python: "3.11", accelerator: "cpu", liveReload: false };
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
    readonly instructions: string[];
}

const cpuSite = siteOf(PYTHON_PATHS.cpu);
const gpuSite = siteOf(PYTHON_PATHS.gpu);
const CPU_BREAKS: Broken[] = [
    { check: "a Debian or Ubuntu /etc/os-release", instructions: [`RUN printf 'ID=alpine\\n' > /etc/os-release`] },
    { check: "python at /usr/local/bin/python3", instructions: ["RUN rm /usr/local/bin/python3"] },
    {
        check: "python 3.11 at /usr/local/bin/python3",
        instructions: ["RUN sed -i 's/^version=3.11$/version=3.10/' /usr/local/bin/python3"],
    },
    {
        check: "python3 on PATH is /usr/local/bin/python3",
        instructions: ["RUN mkdir -p /usr/local/sbin && cp /usr/local/bin/python3 /usr/local/sbin/python3"],
    },
    { check: "pip", instructions: [`RUN rm -r ${cpuSite}/pip`] },
    { check: "pip check (consistent requirements)", instructions: [`RUN touch ${cpuSite}/BROKEN`] },
    { check: "python3 -m venv", instructions: [`RUN rm -r ${cpuSite}/ensurepip`] },
    { check: "bash", instructions: ["RUN rm /usr/bin/bash"] },
    { check: "useradd", instructions: ["RUN rm /usr/sbin/useradd"] },
    { check: "curl", instructions: ["RUN rm /usr/bin/curl"] },
    { check: "git", instructions: ["RUN rm /usr/bin/git"] },
    { check: "gcc (a C compiler)", instructions: ["RUN rm /usr/bin/gcc"] },
    { check: "make", instructions: ["RUN rm /usr/bin/make"] },
    { check: "import pythonjsonlogger", instructions: [`RUN rm -r ${cpuSite}/pythonjsonlogger`] },
    { check: "import opentelemetry.sdk", instructions: [`RUN rm -r ${cpuSite}/opentelemetry/sdk`] },
];
const GPU_BREAKS: Broken[] = [
    { check: `the control server's venv at ${CONTROL_PYTHON}`, instructions: [`RUN rm ${CONTROL_PYTHON}`] },
    { check: "import werkzeug in /control/.env", instructions: [`RUN rm -r ${siteOf(CONTROL_PYTHON)}/werkzeug`] },
    { check: `CUPTI (${CUPTI_DIR}) on LD_LIBRARY_PATH`, instructions: ["ENV LD_LIBRARY_PATH=/usr/local/cuda/lib64"] },
    { check: "load libcupti.so.12", instructions: [`RUN rm ${CUPTI_DIR}/libcupti.so.12`] },
    { check: "load libcudnn.so.8", instructions: ["RUN rm /usr/local/cuda/lib64/libcudnn.so.8"] },
    { check: "import yaml", instructions: [`RUN rm -r ${gpuSite}/yaml`] },
];

describe("smoke tests (real Docker daemon, stub images)", function () {
    this.timeout(300_000);
    const goodCpu = `${PREFIX}:good-cpu`;
    const goodGpu = `${PREFIX}:good-gpu-reload`;
    const made: string[] = [goodCpu, goodGpu];

    before(async () => {
        await ensureDockerDaemon();
        await buildGoodImage(goodCpu, CPU, IMPORTS);
        await buildGoodImage(goodGpu, GPU_RELOAD, IMPORTS);
    });

    after(async () => {
        await docker(["rmi", "-f", ...made], { allowFailure: true });
    });

    it("a stub CPU image that has everything passes every check, through the runner's docker run", async () => {
        const r = await runSmokeTest({
            image: goodCpu,
            spec: CPU,
            imports: IMPORTS,
            endpoint: { host: LOCAL },
            runner: "local",
            timeoutSeconds: 60,
        });
        const { passedHeaders } = outcome(r.output);
        assert.deepStrictEqual(passedHeaders, [...smokeChecks(CPU, IMPORTS).map((c) => c.name), "smoke test passed"]);
        assert.match(r.output, /== python 3\.11 at \/usr\/local\/bin\/python3\nPython 3\.11\.7\n/);
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

    for (const [spec, good, breaks] of [
        [CPU, goodCpu, CPU_BREAKS],
        [GPU_RELOAD, goodGpu, GPU_BREAKS],
    ] as const) {
        for (const broken of breaks) {
            it(`a stub ${spec.accelerator}${spec.liveReload ? " reload" : ""} image without what "${broken.check}" checks fails exactly there`, async () => {
                const tag = `${PREFIX}:${spec.accelerator}-${breaks.indexOf(broken)}`;
                made.push(tag);
                await buildVariant(tag, good, broken.instructions);
                const r = await runScript(tag, spec);
                assert.strictEqual(r.code, 1, r.output);
                const { failed, passedHeaders } = outcome(r.output);
                assert.strictEqual(failed, broken.check, r.output);
                const names = smokeChecks(spec, IMPORTS).map((c) => c.name);
                assert.deepStrictEqual(passedHeaders, names.slice(0, names.indexOf(broken.check) + 1), "every check before it passed");
            });
        }
    }

    it("a failure through the runner's docker run names the image, the runner and the check, with the container's output", async () => {
        const tag = `${PREFIX}:cpu-broken-pip`;
        made.push(tag);
        await buildVariant(tag, goodCpu, [`RUN touch ${cpuSite}/BROKEN`]);
        await assert.rejects(
            runSmokeTest({ image: tag, spec: CPU, imports: IMPORTS, endpoint: { host: LOCAL }, runner: "cpu-0", timeoutSeconds: 60 }),
            (e: Error) => {
                assert.strictEqual(e.name, "SmokeTestError");
                assert.ok(e.message.startsWith(`Smoke test of ${tag} on runner cpu-0 failed (exit code 1).`), e.message);
                assert.match(e.message, /fastapi 0\.124\.0 has requirement starlette<0\.48/);
                assert.match(e.message, /SMOKE TEST FAILED: pip check \(consistent requirements\)/);
                return true;
            },
        );
    });

    it("a stub image whose first check hangs: the test stops at its timeout, says so, and removes its container", async () => {
        const tag = `${PREFIX}:cpu-hangs`;
        made.push(tag);
        // grep blocks forever opening a FIFO that nothing writes to: a hung check.
        await buildVariant(tag, goodCpu, ["RUN rm /etc/os-release && mkfifo /etc/os-release"]);
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

    it("works as Pulumi runs it: the serialized smoke-test provider, in a plain node process", async () => {
        const inputs = {
            image: goodCpu,
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
        assert.match(failed.error ?? "", /No module named 'missing_module'/);
    });
});
