import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import type { ImageSpec } from "../../../src/images/spec";
import {
    CUDA_LIBRARIES,
    importName,
    requirementImports,
    smokeChecks,
    smokeCleanupDockerArgs,
    smokeContainerName,
    smokeTestDockerArgs,
    smokeTestScript,
} from "../../../src/runners/smoke";

const cpu: ImageSpec = { jobType: "server", python: "3.11", accelerator: "cpu", liveReload: false };
const gpuReload: ImageSpec = { jobType: "training", python: "3.10", accelerator: "gpu", liveReload: true };
const IMAGE = `docker.io/baseten/truss-training-base@sha256:${"ab".repeat(32)}`;
const IMAGES = path.resolve(__dirname, "..", "..", "..", "images", "requirements");

describe("smoke test commands", () => {
    it("import names of distributions, including those whose module is named otherwise", () => {
        const cases: Record<string, string> = {
            PyYAML: "yaml",
            pyyaml: "yaml",
            "python-json-logger": "pythonjsonlogger",
            "msgpack-numpy": "msgpack_numpy",
            "opentelemetry-api": "opentelemetry",
            "opentelemetry-sdk": "opentelemetry.sdk",
            "opentelemetry-exporter-otlp": "opentelemetry.exporter.otlp",
            "prometheus-client": "prometheus_client",
            "truss-transfer": "truss_transfer",
            "dataclasses-json": "dataclasses_json",
            Flask: "flask",
            Werkzeug: "werkzeug",
            cython: "Cython",
            "zope.interface": "zope_interface",
        };
        for (const [dist, module] of Object.entries(cases)) assert.strictEqual(importName(dist), module, dist);
    });

    it("reads a requirements file's top-level packages: comments, options, markers, extras and URLs skipped", () => {
        const text = [
            "# comment",
            "-i https://pypi.org/simple",
            "--extra-index-url https://example.com",
            "",
            "numpy>=1.23.5,<2.0 # 2.x breaks things",
            "uvicorn[standard]>=0.24.0",
            "uvloop>=0.19.0; sys_platform != 'win32'",
            "msgpack==1.1.0",
            "msgpack-numpy==0.4.8",
            "PyYAML==6.0",
            "pyyaml>=6",
            "git+https://github.com/org/repo.git",
            "name @ https://example.com/name.whl",
            "  fastapi  ",
        ].join("\n");
        assert.deepStrictEqual(requirementImports(text), [
            "numpy",
            "uvicorn",
            "uvloop",
            "msgpack",
            "msgpack_numpy",
            "yaml",
            "name",
            "fastapi",
        ]);
    });

    it("images/ requirements: every server package and every control package is imported by the smoke test", () => {
        const server = requirementImports(fs.readFileSync(path.join(IMAGES, "server.txt"), "utf8"));
        assert.ok(server.includes("yaml") && server.includes("opentelemetry.sdk") && server.includes("truss_transfer"), server.join(" "));
        const control = requirementImports(fs.readFileSync(path.join(IMAGES, "control.txt"), "utf8"));
        assert.deepStrictEqual(control, ["dataclasses_json", "flask", "werkzeug", "waitress", "tenacity"]);
    });

    it("CPU images: python at /usr/local/bin/python3 with the image's version; tools; each import; no GPU, no control venv", () => {
        const script = smokeTestScript(cpu, { packages: ["yaml", "opentelemetry.sdk"], control: [] });
        assert.match(script, /\[ -x \/usr\/local\/bin\/python3 \]/);
        assert.match(script, /case "\$v" in "Python 3\.11\."\*\)/);
        for (const tool of ["bash -c true", "command -v useradd", "curl --version", "git --version", "gcc --version", "make --version"]) {
            assert.ok(script.includes(`{ ${tool}; }`), tool);
        }
        assert.ok(script.includes(`{ /usr/local/bin/python3 -c 'import opentelemetry.sdk'; } || fail 'import opentelemetry.sdk'`));
        assert.ok(!/nvidia|cuda|\/control\//i.test(script));
        const args = smokeTestDockerArgs(IMAGE, cpu, undefined, "cpu", "truss-smoke-abababababab-1");
        assert.deepStrictEqual(args.slice(0, -1), [
            "run",
            "--rm",
            "--name",
            "truss-smoke-abababababab-1",
            "--network",
            "none",
            "--entrypoint",
            "/bin/sh",
            IMAGE,
            "-c",
        ]);
    });

    it("GPU reload images: --gpus all; CUPTI on LD_LIBRARY_PATH; every CUDA library loads; control imports from /control/.env; the device last", () => {
        const imports = { packages: ["yaml"], control: ["flask", "werkzeug"] };
        const script = smokeTestScript(gpuReload, imports);
        for (const lib of CUDA_LIBRARIES) assert.ok(script.includes(`ctypes.CDLL("${lib}")`), `does not load ${lib}`);
        assert.ok(script.includes(`{ /control/.env/bin/python -c 'import flask'; } || fail 'import flask in /control/.env'`));
        assert.match(script, /\/usr\/local\/cuda\/extras\/CUPTI\/lib64:\*\)/);
        const names = smokeChecks(gpuReload, imports).map((c) => c.name);
        assert.deepStrictEqual(names.slice(-2), ["the GPU is visible to CUDA", "nvidia-smi lists a GPU"]);
        const args = smokeTestDockerArgs(IMAGE, gpuReload, imports, "gpu", "n");
        assert.deepStrictEqual(args.slice(0, 8), ["run", "--rm", "--name", "n", "--network", "none", "--gpus", "all"]);
        assert.strictEqual(args[args.length - 1], script);
    });

    it("GPU images on a runner without an NVIDIA GPU (gpu-libraries): no --gpus, no cuInit, no nvidia-smi; every library check kept", () => {
        const imports = { packages: ["yaml"], control: ["flask", "werkzeug"] };
        const full = smokeChecks(gpuReload, imports);
        const libraries = smokeChecks(gpuReload, imports, "gpu-libraries");
        assert.deepStrictEqual(
            libraries.map((c) => c.name),
            full.slice(0, -2).map((c) => c.name),
            "the full test without its last two checks, in the same order",
        );
        const script = smokeTestScript(gpuReload, imports, "gpu-libraries");
        for (const lib of CUDA_LIBRARIES) assert.ok(script.includes(`ctypes.CDLL("${lib}")`), `does not load ${lib}`);
        assert.ok(!script.includes("cuInit"));
        assert.ok(!script.includes("nvidia-smi"));
        const args = smokeTestDockerArgs(IMAGE, gpuReload, imports, "gpu-libraries", "n");
        assert.ok(!args.includes("--gpus"), "there is no GPU to give the container");
        assert.deepStrictEqual(args.slice(0, 8), ["run", "--rm", "--name", "n", "--network", "none", "--entrypoint", "/bin/sh"]);
        assert.strictEqual(args[args.length - 1], script);
        assert.deepStrictEqual(smokeChecks(cpu, imports, "cpu"), smokeChecks(cpu, imports), "CPU images: one variant");
    });

    it("names each smoke container after the digest and a nonce, so a timed-out test removes exactly its own container", () => {
        assert.strictEqual(smokeContainerName(IMAGE, "1f2e3d4c"), "truss-smoke-abababababab-1f2e3d4c");
        assert.strictEqual(smokeContainerName("local/test:tag", "x y"), "truss-smoke-image-xy", "no digest: still a valid name");
        assert.deepStrictEqual(smokeCleanupDockerArgs("truss-smoke-abababababab-1f2e3d4c"), [
            "rm",
            "-f",
            "truss-smoke-abababababab-1f2e3d4c",
        ]);
    });
});
