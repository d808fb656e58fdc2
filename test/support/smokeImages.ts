// Stub images for the GPU half of the smoke tests (the CPU half runs on real images:
// smokeRealImages.ts). Nothing can stand in for the nvidia/cuda parent here, so a GPU image is a
// stub: FROM scratch, a static busybox, and stand-ins for what the smoke test checks of a GPU
// image (an Ubuntu os-release, a python at /usr/bin/python3 that answers --version, `-m pip`,
// `-m venv`, `-c 'import x'` by looking in its site-packages and `-c 'import ctypes;
// ctypes.CDLL("lib")'` by looking where the dynamic linker would (LD_LIBRARY_PATH, then the system
// folders), the live-reload control server's python, bash, useradd, curl, git, gcc, make, the CUDA
// library files). A "good" stub passes every check that does not need a GPU; each variant breaks
// exactly one thing on top of it.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { ImageSpec } from "../../src/images/spec";
import { CONTROL_PYTHON, CUDA_LIBRARIES, CUPTI_DIR, PYTHON_PATHS, SmokeImports } from "../../src/runners/smoke";
import { docker } from "./docker";

const BUSYBOX = "/bin/busybox";

/** The stand-in interpreter; VERSION and SITE are filled in per image. */
function stubPython(version: string, site: string): string {
    return `#!/bin/sh
version=${version}
site=${site}
case "\${1:-}" in
    --version) echo "Python $version.7" ;;
    -m)
        case "$2" in
            pip)
                [ -d "$site/pip" ] || { echo "$0: No module named pip" >&2; exit 1; }
                case "$3" in
                    --version) echo "pip 24.0 from $site/pip (python $version)" ;;
                    check) echo "No broken requirements found." ;;
                    *) exit 2 ;;
                esac ;;
            venv)
                [ -d "$site/ensurepip" ] || { echo "ensurepip is not available: install python$version-venv" >&2; exit 1; }
                mkdir -p "$3/bin" && cp "$0" "$3/bin/python" ;;
            *) echo "$0: No module named $2" >&2; exit 1 ;;
        esac ;;
    -c)
        case "$2" in
            'import ctypes; ctypes.CDLL("'*'")')
                lib=\${2#*CDLL(\\"}; lib=\${lib%\\")}
                IFS=:
                for dir in \${LD_LIBRARY_PATH:-} /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib /usr/lib; do
                    [ -n "$dir" ] && [ -e "$dir/$lib" ] && exit 0
                done
                echo "OSError: $lib: cannot open shared object file: No such file or directory" >&2; exit 1 ;;
            'import '*)
                module=\${2#import }
                rel=$(echo "$module" | tr . /)
                [ -e "$site/$rel" ] || [ -e "$site/$rel.py" ] || { echo "ModuleNotFoundError: No module named '$module'" >&2; exit 1; } ;;
            *) echo "stub python cannot run: $2" >&2; exit 2 ;;
        esac ;;
    *) echo "stub python: unexpected arguments: $*" >&2; exit 2 ;;
esac
`;
}

const TOOLS = {
    "/usr/bin/bash": "bash",
    "/usr/sbin/useradd": "useradd",
    "/usr/bin/curl": "curl",
    "/usr/bin/git": "git",
    "/usr/bin/gcc": "gcc",
    "/usr/bin/make": "make",
};

/** The site-packages folder of the stub python at each path (the GPU image's, the control server's). */
export function siteOf(python: string): string {
    return python === CONTROL_PYTHON
        ? "/control/.env/lib/site-packages"
        : `${path.dirname(path.dirname(python))}/lib/python3/site-packages`;
}

/** Builds `tag`: a stub GPU image that passes every check of `spec` with `imports`, except the GPU device. */
export async function buildGpuStubImage(tag: string, spec: ImageSpec, imports: SmokeImports): Promise<void> {
    if (spec.accelerator !== "gpu") {
        throw new Error(`stub smoke images are GPU images only: a ${spec.accelerator} image gets a real one (smokeRealImages.ts)`);
    }
    if (!fs.existsSync(BUSYBOX)) throw new Error(`no ${BUSYBOX}: install it with \`apt-get install -y busybox-static\``);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "smoke-image-"));
    try {
        const root = path.join(dir, "root");
        const put = (file: string, text: string, mode = 0o644): void => {
            fs.mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
            fs.writeFileSync(path.join(root, file), text, { mode });
        };
        const python = PYTHON_PATHS.gpu;
        const site = siteOf(python);
        put("etc/os-release", 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n');
        put(python, stubPython(spec.python, site), 0o755);
        for (const d of ["pip", "ensurepip", ...imports.packages.map((m) => m.split(".").join("/"))]) put(`${site}/${d}/__init__.py`, "");
        for (const [file, name] of Object.entries(TOOLS)) put(file, `#!/bin/sh\necho "${name} (stub) 1.0"\n`, 0o755);
        if (spec.liveReload) {
            put(CONTROL_PYTHON, stubPython(spec.python, siteOf(CONTROL_PYTHON)), 0o755);
            for (const d of ["pip", ...imports.control]) put(`${siteOf(CONTROL_PYTHON)}/${d}/__init__.py`, "");
        }
        for (const lib of CUDA_LIBRARIES) put(`${lib === "libcupti.so.12" ? CUPTI_DIR : "/usr/local/cuda/lib64"}/${lib}`, "");
        fs.copyFileSync(BUSYBOX, path.join(dir, "busybox"));
        fs.writeFileSync(
            path.join(dir, "Dockerfile"),
            [
                "FROM scratch",
                "COPY busybox /bin/busybox",
                'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
                "COPY root/ /",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                `ENV LD_LIBRARY_PATH=${CUPTI_DIR}:/usr/local/cuda/lib64`,
                "",
            ].join("\n"),
        );
        await docker(["build", "--network", "none", "-q", "-t", tag, dir]);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/**
 * Builds `tag` FROM `base` with Dockerfile instructions that break one thing, without network:
 * for the stub GPU images, and for the real CPU images too (uninstalls and removals need none).
 */
export async function buildVariant(tag: string, base: string, instructions: string[]): Promise<void> {
    await docker(["build", "--force-rm", "--network", "none", "-q", "-t", tag, "-"], {
        input: [`FROM ${base}`, ...instructions, ""].join("\n"),
    });
}
