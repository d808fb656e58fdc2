// Smoke tests run for real against the local Docker daemon, on tiny images made here: FROM
// scratch, a static busybox and a stub python3 at the CPU images' path. (No GPU on these
// machines: the GPU checks are tested as text in test/unit/runners/smoke.spec.ts.)
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { ImageSpec } from "../../src/images/spec";
import { PYTHON_PATHS } from "../../src/runners/smoke";
import { runSmokeTest, smokeTestProvider } from "../../src/pulumi/smokeTest";
import { docker, ensureDockerDaemon } from "../support/docker";
import { callSerialized } from "../support/dynamicProviders";

const LOCAL = process.env.DOCKER_HOST || "unix:///var/run/docker.sock";
const BUSYBOX = "/bin/busybox";
const SPEC: ImageSpec = { jobType: "server", python: "3.11", accelerator: "cpu", liveReload: false };

/** A stub interpreter: `--version` and `-m pip check` answer as `pipCheck` says. */
function stubPython(version: string, pipCheck: { ok: boolean; output: string }): string {
    return `#!/bin/sh
case "$1" in
    --version) echo "Python ${version}" ;;
    -m) if [ "$2" = pip ] && [ "$3" = check ]; then echo "${pipCheck.output}"; exit ${pipCheck.ok ? 0 : 1}; fi; exit 2 ;;
    *) echo "stub python: unexpected arguments: $*" >&2; exit 2 ;;
esac
`;
}

/** Builds `tag`: scratch + busybox applets + the stub at the CPU python path. */
async function buildStubImage(tag: string, python: string): Promise<void> {
    if (!fs.existsSync(BUSYBOX)) throw new Error(`no ${BUSYBOX}: install it with \`apt-get install -y busybox-static\``);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "smoke-image-"));
    fs.copyFileSync(BUSYBOX, path.join(dir, "busybox"));
    fs.writeFileSync(path.join(dir, "python3"), python, { mode: 0o755 });
    fs.writeFileSync(
        path.join(dir, "Dockerfile"),
        [
            "FROM scratch",
            "COPY busybox /bin/busybox",
            'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
            `COPY python3 ${PYTHON_PATHS.cpu}`,
            "",
        ].join("\n"),
    );
    await docker(["build", "--network", "none", "-q", "-t", tag, dir]);
    fs.rmSync(dir, { recursive: true, force: true });
}

describe("smoke tests (real Docker daemon, stub images)", function () {
    this.timeout(180_000);
    const good = "truss-base-images-test/smoke:good";
    const brokenPip = "truss-base-images-test/smoke:broken-pip";
    const wrongPython = "truss-base-images-test/smoke:wrong-python";

    before(async () => {
        await ensureDockerDaemon();
        await buildStubImage(good, stubPython("3.11.9", { ok: true, output: "No broken requirements found." }));
        await buildStubImage(
            brokenPip,
            stubPython("3.11.9", { ok: false, output: "fastapi 0.124.0 has requirement starlette<0.48, but you have starlette 0.49.1." }),
        );
        await buildStubImage(wrongPython, stubPython("3.10.14", { ok: true, output: "No broken requirements found." }));
    });

    after(async () => {
        await docker(["rmi", "-f", good, brokenPip, wrongPython], { allowFailure: true });
    });

    it("passes an image whose python is where Truss looks, at the right version, with consistent requirements", async () => {
        const r = await runSmokeTest({ image: good, spec: SPEC, endpoint: { host: LOCAL }, runner: "local", timeoutSeconds: 60 });
        assert.match(
            r.output,
            /== python 3\.11 at \/usr\/local\/bin\/python3\nPython 3\.11\.9\n== pip check\nNo broken requirements found\.\n== smoke test passed/,
        );
    });

    it("fails on broken requirements and shows the container's output", async () => {
        await assert.rejects(
            runSmokeTest({ image: brokenPip, spec: SPEC, endpoint: { host: LOCAL }, runner: "cpu-0", timeoutSeconds: 60 }),
            (e: Error) => {
                assert.strictEqual(e.name, "SmokeTestError");
                assert.ok(e.message.startsWith(`Smoke test of ${brokenPip} on runner cpu-0 failed (exit code 1).`), e.message);
                assert.match(e.message, /fastapi 0\.124\.0 has requirement starlette<0\.48/);
                assert.match(e.message, /SMOKE TEST FAILED: pip check found broken requirements/);
                return true;
            },
        );
    });

    it("fails when the image has another python version than its tag says", async () => {
        await assert.rejects(
            runSmokeTest({ image: wrongPython, spec: SPEC, endpoint: { host: LOCAL }, runner: "cpu-0", timeoutSeconds: 60 }),
            /SMOKE TEST FAILED: expected Python 3\.11\.x at \/usr\/local\/bin\/python3, got: Python 3\.10\.14/,
        );
    });

    it("works as Pulumi runs it: the serialized smoke-test provider, in a plain node process", async () => {
        const inputs = { image: good, digest: "sha256:" + "ab".repeat(32), spec: SPEC, runner: "local", host: LOCAL, timeoutSeconds: 60 };
        const passed = await callSerialized(smokeTestProvider, "create", [inputs]);
        assert.ok(passed.ok, passed.error);
        assert.strictEqual(passed.result.outs.testedDigest, inputs.digest);
        const failed = await callSerialized(smokeTestProvider, "create", [{ ...inputs, image: brokenPip }]);
        assert.strictEqual(failed.ok, false);
        assert.match(failed.error ?? "", /starlette<0\.48/);
    });
});
