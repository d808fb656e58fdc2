// Real builds for the integration and e2e tests: a staged context built by the Docker daemon on
// the stand-in parents (standIns.ts), with real apt and pip, then smoke-tested with the
// project's own smoke test and a C extension compiled and imported in the image.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { writeContext } from "../../src/images/context";
import type { PlannedImage } from "../../src/publish/plannedImages";
import { smokeContainerName, smokeImportsOf, smokeTestDockerArgs } from "../../src/runners/smoke";
import { buildCommandArgs, docker } from "./docker";
import { standIn } from "./standIns";

/** The `parents` override that builds python:<X> on the stand-in of each python. */
export async function standInParents(pythons: readonly string[]): Promise<Record<string, string>> {
    // Made side by side: on a fresh machine each is a debootstrap run that mostly waits on the network and the disk.
    const refs = await Promise.all(pythons.map((python) => standIn(python)));
    return Object.fromEntries(pythons.map((python, i) => [`python:${python}`, refs[i]]));
}

/** Builds a planned image's staged context as `reference` (classic builder, host network). */
export async function buildPlanned(image: PlannedImage, reference: string): Promise<void> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "truss-real-build-"));
    try {
        const dir = writeContext(root, image.staged);
        // --force-rm: a failing build leaves no container behind.
        await docker(["build", "--force-rm", ...buildCommandArgs(image.staged, dir, reference).slice(1)]);
    } finally {
        fs.rmSync(root, { recursive: true, force: true });
    }
}

/** The project's smoke test of the image (src/runners/smoke.ts), as a runner runs it. */
export async function runSmokeTest(reference: string, image: PlannedImage): Promise<{ code: number; output: string }> {
    const name = smokeContainerName(reference, `${process.pid}-${Date.now()}`);
    const args = smokeTestDockerArgs(reference, image.spec, smokeImportsOf(image.staged), image.spec.accelerator, name);
    const r = await docker(args, { allowFailure: true });
    return { code: r.code, output: r.stdout + r.stderr };
}

const EXTENSION_SOURCE = `#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "truss_smoke_ext", NULL, -1, methods};
PyMODINIT_FUNC PyInit_truss_smoke_ext(void) { return PyModule_Create(&module); }
`;

// The headers and suffix come from the interpreter itself (sysconfig), as setuptools finds them.
const COMPILE = `set -eu
cd "$(mktemp -d)"
printf '%s' "$2" > ext.c
inc=$("$1" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$1" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
gcc -shared -fPIC -I"$inc" ext.c -o "truss_smoke_ext$suffix"
"$1" -c 'import truss_smoke_ext; print(truss_smoke_ext.answer())'
`;

/** Compiles a trivial C extension against the image's python headers and imports it; prints 42. */
export async function compileExtension(reference: string, python: string): Promise<string> {
    const r = await docker([
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/sh",
        reference,
        "-c",
        COMPILE,
        "sh",
        python,
        EXTENSION_SOURCE,
    ]);
    return r.stdout.trim();
}
