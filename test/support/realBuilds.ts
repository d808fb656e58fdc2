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

/** Runs `entrypoint args...` in a new container of `reference` without a network; returns its standard output. */
export async function runInImage(reference: string, entrypoint: string, args: readonly string[]): Promise<string> {
    return (await docker(["run", "--rm", "--network", "none", "--entrypoint", entrypoint, reference, ...args])).stdout;
}

/** Compiles a trivial C extension against the image's python headers and imports it; prints 42. */
export async function compileExtension(reference: string, python: string): Promise<string> {
    return (await runInImage(reference, "/bin/sh", ["-c", COMPILE, "sh", python, EXTENSION_SOURCE])).trim();
}

/** One requirement line of a requirements file, as found installed in an image. */
export interface RequirementCheck {
    /** The line as written (`numpy>=1.23.5,<2.0`). */
    readonly requirement: string;
    /** False when its environment marker excludes this python and platform (nothing to install). */
    readonly applies: boolean;
    /** The version of its distribution the interpreter finds, or null when it finds none. */
    readonly installed: string | null;
    /** Whether that version is one the specifier allows (prereleases included); false when none is installed. */
    readonly allowed: boolean;
}

// Run by the image's own interpreter: its environment's distributions, read as pip reads
// requirements (pip's vendored packaging, so nothing else needs to be installed).
const CHECK_REQUIREMENTS = `import json, sys
from importlib.metadata import PackageNotFoundError, version
from pip._vendor.packaging.requirements import Requirement
out = []
for line in sys.argv[1:]:
    req = Requirement(line)
    try:
        installed = version(req.name)
    except PackageNotFoundError:
        installed = None
    out.append({
        "requirement": line,
        "applies": req.marker is None or req.marker.evaluate(),
        "installed": installed,
        "allowed": installed is not None and req.specifier.contains(installed, prereleases=True),
    })
print(json.dumps(out))
`;

/** The requirement lines of a requirements file: blank lines and comments dropped, everything else kept for checkRequirements. */
export function requirementLines(text: string): string[] {
    return text
        .split("\n")
        .map((l) => l.replace(/(^|\s)#.*$/, "").trim())
        .filter((l) => l !== "");
}

/**
 * Checks each requirement line against what `python` (an interpreter of the image: its own
 * environment, a venv's) has installed. A line pip's requirement parser rejects (an option such as
 * `-r`) fails the run.
 */
export async function checkRequirements(reference: string, python: string, requirements: readonly string[]): Promise<RequirementCheck[]> {
    return JSON.parse(await runInImage(reference, python, ["-c", CHECK_REQUIREMENTS, ...requirements])) as RequirementCheck[];
}
