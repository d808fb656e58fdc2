import * as assert from "assert";
import { spawnSync } from "child_process";
import type { ImageSpec } from "../../../src/images/spec";
import { CUDA_LIBRARIES, smokeTestDockerArgs, smokeTestScript } from "../../../src/runners/smoke";

const cpu: ImageSpec = { jobType: "server", python: "3.11", accelerator: "cpu", liveReload: false };
const gpuReload: ImageSpec = { jobType: "training", python: "3.10", accelerator: "gpu", liveReload: true };
const IMAGE = `docker.io/baseten/truss-training-base@sha256:${"ab".repeat(32)}`;

function shellcheck(script: string): string {
    const r = spawnSync("shellcheck", ["-s", "sh", "-"], { input: script, encoding: "utf8" });
    if (r.error) throw new Error(`shellcheck could not run (${r.error.message}); install it with \`apt-get install -y shellcheck\``);
    return r.status === 0 ? "" : r.stdout;
}

describe("smoke test commands", () => {
    it("CPU images: python at /usr/local/bin/python3 with the image's version, pip check, no GPU", () => {
        const script = smokeTestScript(cpu);
        assert.strictEqual(shellcheck(script), "");
        assert.match(script, /\[ -x \/usr\/local\/bin\/python3 \]/);
        assert.match(script, /case "\$version" in "Python 3\.11\."\*\)/);
        assert.match(script, /\/usr\/local\/bin\/python3 -m pip check/);
        assert.ok(!/nvidia|cuda|\/control\//i.test(script));
        const args = smokeTestDockerArgs(IMAGE, cpu);
        assert.deepStrictEqual(args.slice(0, -1), ["run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", IMAGE, "-c"]);
        assert.ok(!args.includes("--gpus"));
    });

    it("GPU images: run with --gpus all; python at /usr/bin/python3, pip check, CUDA libraries load, the GPU is visible", () => {
        const script = smokeTestScript(gpuReload);
        assert.strictEqual(shellcheck(script), "");
        assert.match(script, /\[ -x \/usr\/bin\/python3 \]/);
        assert.match(script, /"Python 3\.10\."\*\)/);
        assert.match(script, /\/usr\/bin\/python3 -m pip check/);
        for (const lib of CUDA_LIBRARIES) assert.ok(script.includes(lib), `does not load ${lib}`);
        assert.match(script, /cuDeviceGetCount/);
        assert.match(script, /nvidia-smi -L/);
        assert.match(script, /\/control\/\.env\/bin\/python -m pip check/, "live reload: the control server's venv");
        const args = smokeTestDockerArgs(IMAGE, gpuReload);
        assert.deepStrictEqual(args.slice(0, 6), ["run", "--rm", "--network", "none", "--gpus", "all"]);
        assert.strictEqual(args[args.length - 1], script);
    });

    it("the CUDA check is valid python (parsed by this machine's python3)", function () {
        const code = /-c '([\s\S]*?)' \|\| fail/.exec(smokeTestScript(gpuReload))?.[1];
        assert.ok(code, "no python -c in the GPU script");
        const r = spawnSync("python3", ["-c", `import ast, sys; ast.parse(sys.stdin.read())`], { input: code, encoding: "utf8" });
        assert.strictEqual(r.status, 0, r.stderr);
    });
});
