import type { Accelerator } from "../images/dimensions";
import type { StagedContext } from "../images/context";
import type { ImageSpec } from "../images/spec";
import type { SmokeChecks } from "./smokeChecks";

/**
 * The smoke test of a published image: what Truss's model images rely on, checked in a
 * container of the pushed digest on the runner that built it. Pure: the checks, the script and
 * the `docker run` arguments.
 */

/** Where Truss looks for python in each kind of base image. */
export const PYTHON_PATHS: Readonly<Record<Accelerator, string>> = {
    cpu: "/usr/local/bin/python3",
    gpu: "/usr/bin/python3",
};

/** The control server's interpreter in live-reload images. */
export const CONTROL_PYTHON = "/control/.env/bin/python";

/** Where CUDA keeps CUPTI, outside the linker's default paths: LD_LIBRARY_PATH must name it. */
export const CUPTI_DIR = "/usr/local/cuda/extras/CUPTI/lib64";

/**
 * The CUDA 12 user-space libraries a GPU image must load through the linker (LD_LIBRARY_PATH
 * included), by soname: the runtime from the nvidia/cuda parent, cuBLAS, cuFFT, cuRAND,
 * cuSOLVER, cuSPARSE, cuDNN 8 and CUPTI.
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
    "libcupti.so.12",
] as const;

/** The top-level import names of an image's requirements, and of its control server's (live reload). */
export interface SmokeImports {
    readonly packages: readonly string[];
    readonly control: readonly string[];
}

/**
 * Distributions whose import name is not their name with `-` and `.` read as `_`. Namespace
 * packages (opentelemetry) are checked at their own module, so a missing one is not hidden by a
 * sibling that shares the namespace.
 */
const IMPORT_NAMES: Readonly<Record<string, string>> = {
    pyyaml: "yaml",
    "python-json-logger": "pythonjsonlogger",
    "msgpack-numpy": "msgpack_numpy",
    "opentelemetry-api": "opentelemetry",
    "opentelemetry-sdk": "opentelemetry.sdk",
    "opentelemetry-exporter-otlp": "opentelemetry.exporter.otlp",
    "opentelemetry-exporter-otlp-proto-grpc": "opentelemetry.exporter.otlp.proto.grpc",
    "opentelemetry-exporter-otlp-proto-http": "opentelemetry.exporter.otlp.proto.http",
    "prometheus-client": "prometheus_client",
    cython: "Cython",
    pillow: "PIL",
    "scikit-learn": "sklearn",
    beautifulsoup4: "bs4",
    protobuf: "google.protobuf",
    "python-dateutil": "dateutil",
};

/** The import name of a distribution (`PyYAML` -> `yaml`, `truss-transfer` -> `truss_transfer`). */
export function importName(distribution: string): string {
    const normalized = distribution.toLowerCase().replace(/[-_.]+/g, "-");
    return IMPORT_NAMES[normalized] ?? normalized.replace(/-/g, "_");
}

/**
 * The import names of a requirements file's top-level packages, in file order, each once:
 * comments, blank lines and pip options (`-i ...`, `-r ...`) skipped, versions, extras and
 * environment markers dropped. Direct references without a name (`git+https://...`) have no
 * name to import and are skipped.
 */
export function requirementImports(text: string): string[] {
    const out: string[] = [];
    for (const raw of text.split("\n")) {
        const line = raw.replace(/(^|\s)#.*$/, "").trim();
        if (line === "" || line.startsWith("-")) continue;
        const name = /^([A-Za-z0-9][A-Za-z0-9._-]*)(?=\s*(?:[[<>=!~;@ ]|$))/.exec(line)?.[1];
        if (!name || /^[a-z+]+:\/\//i.test(line)) continue;
        const module = importName(name);
        if (!out.includes(module)) out.push(module);
    }
    return out;
}

/** What an image's smoke test imports, from the requirements files of its staged context. */
export function smokeImportsOf(staged: Pick<StagedContext, "files">): SmokeImports {
    const text = (p: string): string => staged.files.find((f) => f.path === p)?.content.toString("utf8") ?? "";
    return { packages: requirementImports(text("requirements.txt")), control: requirementImports(text("control/requirements.txt")) };
}

/** One check: a name for messages and one shell line that exits non-zero when the check fails. */
export interface SmokeCheck {
    readonly name: string;
    readonly command: string;
}

/** Loads every CUDA library, then asks the driver (mounted by `--gpus all`) how many GPUs it sees. */
function gpuDeviceCheck(): string {
    return [
        "import ctypes",
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
 * Every check of an image, in order. The image's own contract first (os, python, pip, venv,
 * tools, imports, CUDA libraries), the GPU device itself last: it is the only check that needs
 * the runner's driver rather than the image. `variant` (smokeChecksFor) defaults to the full
 * test of the image's accelerator; `gpu-libraries`, for a GPU image on a runner without an
 * NVIDIA GPU, keeps every library check and drops the two that need the device.
 */
export function smokeChecks(
    spec: ImageSpec,
    imports: SmokeImports = { packages: [], control: [] },
    variant: SmokeChecks = spec.accelerator,
): SmokeCheck[] {
    const py = PYTHON_PATHS[spec.accelerator];
    const checks: SmokeCheck[] = [
        { name: "a Debian or Ubuntu /etc/os-release", command: `grep -Eq '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release` },
        { name: `python at ${py}`, command: `[ -x ${py} ]` },
        {
            name: `python ${spec.python} at ${py}`,
            command: `v=$(${py} --version 2>&1); echo "$v"; case "$v" in "Python ${spec.python}."*) ;; *) false ;; esac`,
        },
        { name: `python3 on PATH is ${py}`, command: `[ "$(readlink -f "$(command -v python3)")" = "$(readlink -f ${py})" ]` },
        { name: "pip", command: `${py} -m pip --version` },
        { name: "pip check (consistent requirements)", command: `${py} -m pip check` },
        {
            name: "python3 -m venv",
            command: `${py} -m venv /tmp/truss-smoke-venv && /tmp/truss-smoke-venv/bin/python --version && rm -rf /tmp/truss-smoke-venv`,
        },
        { name: "bash", command: `bash -c true` },
        { name: "useradd", command: `command -v useradd` },
        { name: "curl", command: `curl --version` },
        { name: "git", command: `git --version` },
        { name: "gcc (a C compiler)", command: `gcc --version` },
        { name: "make", command: `make --version` },
        ...imports.packages.map((m) => ({ name: `import ${m}`, command: `${py} -c 'import ${m}'` })),
    ];
    if (spec.liveReload) {
        checks.push(
            { name: `the control server's venv at ${CONTROL_PYTHON}`, command: `[ -x ${CONTROL_PYTHON} ]` },
            { name: "pip check in /control/.env", command: `${CONTROL_PYTHON} -m pip check` },
            ...imports.control.map((m) => ({ name: `import ${m} in /control/.env`, command: `${CONTROL_PYTHON} -c 'import ${m}'` })),
        );
    }
    if (spec.accelerator === "gpu") {
        checks.push(
            {
                name: `CUPTI (${CUPTI_DIR}) on LD_LIBRARY_PATH`,
                command: `case ":\${LD_LIBRARY_PATH:-}:" in *:${CUPTI_DIR}:*) ;; *) false ;; esac`,
            },
            ...CUDA_LIBRARIES.map((lib) => ({ name: `load ${lib}`, command: `${py} -c 'import ctypes; ctypes.CDLL("${lib}")'` })),
        );
        if (variant === "gpu") {
            checks.push(
                { name: "the GPU is visible to CUDA", command: `${py} -c ${singleQuoted(gpuDeviceCheck())}` },
                { name: "nvidia-smi lists a GPU", command: `nvidia-smi -L` },
            );
        }
    }
    return checks;
}

/**
 * The script the smoke test runs with /bin/sh in the image: each check prints a `== ` header,
 * and the first failure exits non-zero with `SMOKE TEST FAILED: <check>`. It needs only /bin/sh
 * and what it checks.
 */
export function smokeTestScript(spec: ImageSpec, imports?: SmokeImports, variant: SmokeChecks = spec.accelerator): string {
    const lines = ["set -u", `fail() { echo "SMOKE TEST FAILED: $*"; exit 1; }`];
    for (const check of smokeChecks(spec, imports, variant)) {
        lines.push(`echo ${singleQuoted(`== ${check.name}`)}`, `{ ${check.command}; } || fail ${singleQuoted(check.name)}`);
    }
    lines.push(`echo "== smoke test passed"`);
    return lines.join("\n") + "\n";
}

function singleQuoted(text: string): string {
    return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The smoke test container's name, `truss-smoke-<12 hex of the digest>-<nonce>`: a test that
 * times out removes exactly its own container (`docker rm -f <name>`), since stopping the
 * docker client does not stop the container. `nonce` keeps two tests of one digest apart.
 */
export function smokeContainerName(image: string, nonce: string): string {
    const hex = /@sha256:([0-9a-f]{12})/.exec(image)?.[1] ?? "image";
    return `truss-smoke-${hex}-${nonce.replace(/[^A-Za-z0-9_.-]/g, "")}`;
}

/**
 * `docker run` arguments (after `docker`) for the smoke test of `image` (a reference by
 * digest) in a container named `name` (smokeContainerName): no network (the checks need none),
 * the GPUs for the full GPU test (not for `gpu-libraries`, whose runner has none to give), and
 * /bin/sh as the entrypoint whatever the image declares.
 */
export function smokeTestDockerArgs(
    image: string,
    spec: ImageSpec,
    imports: SmokeImports | undefined,
    variant: SmokeChecks,
    name: string,
): string[] {
    return [
        "run",
        "--rm",
        "--name",
        name,
        "--network",
        "none",
        ...(variant === "gpu" ? ["--gpus", "all"] : []),
        "--entrypoint",
        "/bin/sh",
        image,
        "-c",
        smokeTestScript(spec, imports, variant),
    ];
}

/** `docker` arguments that remove a smoke test's container, running or not (after its timeout). */
export function smokeCleanupDockerArgs(name: string): string[] {
    return ["rm", "-f", name];
}
