import type { Accelerator } from "../images/catalog";
import type { ImageSpec } from "../images/spec";

/**
 * The smoke test of a published image: what Truss relies on, checked in a container of the
 * pushed digest on the runner that built it. Pure: the script and the `docker run` arguments.
 */

/** Where Truss looks for python in each kind of base image (SPEC section 1). */
export const PYTHON_PATHS: Readonly<Record<Accelerator, string>> = {
    cpu: "/usr/local/bin/python3",
    gpu: "/usr/bin/python3",
};

/** The control server's interpreter in live-reload images. */
export const CONTROL_PYTHON = "/control/.env/bin/python";

/**
 * The CUDA 12 user-space libraries a GPU image must load: the runtime from the nvidia/cuda
 * parent plus what images/Dockerfile.gpu installs (cuBLAS, cuFFT, cuRAND, cuSOLVER,
 * cuSPARSE, cuDNN 8), by soname.
 */
export const CUDA_LIBRARIES = [
    "libcudart.so.12",
    "libcublas.so.12",
    "libcublasLt.so.12",
    "libcufft.so.11",
    "libcurand.so.10",
    "libcusolver.so.11",
    "libcusparse.so.12",
    "libcudnn.so.8",
] as const;

/** Loads every CUDA library, then asks the driver (mounted by `--gpus all`) how many GPUs it sees. */
function cudaCheck(): string {
    return [
        "import ctypes",
        `for name in ${JSON.stringify(CUDA_LIBRARIES)}:`,
        "    ctypes.CDLL(name)",
        '    print("loaded", name)',
        'cuda = ctypes.CDLL("libcuda.so.1")',
        "rc = cuda.cuInit(0)",
        "if rc != 0:",
        '    raise SystemExit("cuInit failed with CUDA error %d: is the NVIDIA driver visible (--gpus all)?" % rc)',
        "count = ctypes.c_int(0)",
        "rc = cuda.cuDeviceGetCount(ctypes.byref(count))",
        "if rc != 0 or count.value < 1:",
        '    raise SystemExit("CUDA sees no GPU (error %d, %d devices)" % (rc, count.value))',
        'print("CUDA devices:", count.value)',
    ].join("\n");
}

/**
 * The script the smoke test runs with /bin/sh in the image: each check prints a `== ` header,
 * and the first failure exits non-zero with a `SMOKE TEST FAILED:` line saying what was
 * expected. It needs only /bin/sh and the image's own python.
 */
export function smokeTestScript(spec: ImageSpec): string {
    const py = PYTHON_PATHS[spec.accelerator];
    const lines = [
        "set -u",
        `fail() { echo "SMOKE TEST FAILED: $*"; exit 1; }`,
        `echo "== python ${spec.python} at ${py}"`,
        `[ -x ${py} ] || fail "${py} is missing or not executable"`,
        `version=$(${py} --version 2>&1) || fail "${py} --version failed: $version"`,
        `echo "$version"`,
        `case "$version" in "Python ${spec.python}."*) ;; *) fail "expected Python ${spec.python}.x at ${py}, got: $version" ;; esac`,
        `echo "== pip check"`,
        `${py} -m pip check || fail "pip check found broken requirements"`,
    ];
    if (spec.liveReload) {
        lines.push(
            `echo "== control server environment"`,
            `[ -x ${CONTROL_PYTHON} ] || fail "${CONTROL_PYTHON} is missing: the live-reload venv was not built"`,
            `${CONTROL_PYTHON} -m pip check || fail "pip check found broken requirements in /control/.env"`,
        );
    }
    if (spec.accelerator === "gpu") {
        lines.push(
            `echo "== CUDA libraries and the GPU"`,
            `${py} -c ${singleQuoted(cudaCheck())} || fail "the CUDA libraries did not load or no GPU is visible"`,
            `nvidia-smi -L || fail "nvidia-smi lists no GPU"`,
        );
    }
    lines.push(`echo "== smoke test passed"`);
    return lines.join("\n") + "\n";
}

function singleQuoted(text: string): string {
    return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * `docker run` arguments (after `docker`) for the smoke test of `image` (a reference by
 * digest): no network (the checks need none), the GPUs for GPU images, and /bin/sh as the
 * entrypoint whatever the image declares.
 */
export function smokeTestDockerArgs(image: string, spec: ImageSpec): string[] {
    return [
        "run",
        "--rm",
        "--network",
        "none",
        ...(spec.accelerator === "gpu" ? ["--gpus", "all"] : []),
        "--entrypoint",
        "/bin/sh",
        image,
        "-c",
        smokeTestScript(spec),
    ];
}
