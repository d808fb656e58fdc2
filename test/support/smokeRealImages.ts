// Real images for the CPU half of the smoke tests: the stand-in python:<X> (standIns.ts: Debian's
// python at /usr/local/bin/python3, pip, venv, the C toolchain) with a real `pip install` from PyPI
// of what the smoke spec imports (PyYAML, python-json-logger, opentelemetry-sdk), each at an exact
// version, together with the dependencies pip resolves for them, also pinned: `pip check` sees the
// same set on every run. Kept in the daemon after a run, under a name of the tests' own: the next
// run's build finds its layer in the cache and pip does not run again.
import { docker } from "./docker";
import { standIn } from "./standIns";

/** What the real CPU images pip-install, by distribution, at exact versions with wheels for 3.11 and 3.13. */
export const SMOKE_PINS: Readonly<Record<string, string>> = {
    PyYAML: "6.0.3",
    "python-json-logger": "4.2.0",
    "opentelemetry-sdk": "1.45.2",
    // opentelemetry-sdk's dependencies, at the versions pip resolves for the pin above.
    "opentelemetry-api": "1.45.2",
    "opentelemetry-semantic-conventions": "0.66b2",
    "typing-extensions": "4.16.0",
};

/** Where the real smoke images live in the daemon. */
export const SMOKE_REAL_REPOSITORY = "truss-base-images-test/smoke-real";

/** Builds (or finds in the layer cache) the real CPU image for `python` and returns its local name. */
export async function buildRealCpuImage(python: string): Promise<string> {
    const parent = await standIn(python);
    const tag = `${SMOKE_REAL_REPOSITORY}:cpu-${python}`;
    const pins = Object.entries(SMOKE_PINS).map(([name, version]) => `${name}==${version}`);
    const dockerfile = [
        `FROM ${parent}`,
        `RUN python3 -m pip install --no-cache-dir --root-user-action=ignore --disable-pip-version-check ${pins.join(" ")}`,
        "",
    ].join("\n");
    // --force-rm: a failing build leaves no container behind.
    await docker(["build", "--force-rm", "--network", "host", "-q", "-t", tag, "-"], { input: dockerfile });
    return tag;
}
