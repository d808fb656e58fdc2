// The smoke scripts as text, checked by the tools that read them: shellcheck for the shell every
// image runs them with, and this machine's python3 for the python each check hands to the image.
import * as assert from "assert";
import { spawnSync } from "child_process";
import type { ImageSpec } from "../../../src/images/spec";
import { smokeChecks, smokeTestScript } from "../../../src/runners/smoke";
import type { SmokeChecks } from "../../../src/runners/smokeChecks";

const IMPORTS = { packages: ["yaml", "opentelemetry.sdk"], control: ["flask", "werkzeug"] };
const SPECS: readonly [ImageSpec, SmokeChecks][] = [
    [{ jobType: "server", python: "3.11", accelerator: "cpu", liveReload: false }, "cpu"],
    [{ jobType: "server", python: "3.9", accelerator: "cpu", liveReload: true }, "cpu"],
    [{ jobType: "training", python: "3.10", accelerator: "gpu", liveReload: true }, "gpu"],
    [{ jobType: "server", python: "3.12", accelerator: "gpu", liveReload: false }, "gpu-libraries"],
];

function shellcheck(script: string): string {
    const r = spawnSync("shellcheck", ["-s", "sh", "-"], { input: script, encoding: "utf8" });
    if (r.error) throw new Error(`shellcheck could not run (${r.error.message}); install it with \`apt-get install -y shellcheck\``);
    return r.status === 0 ? "" : r.stdout;
}

describe("smoke scripts as text (shellcheck, python3)", () => {
    for (const [spec, variant] of SPECS) {
        it(`${spec.accelerator}${spec.liveReload ? " reload" : ""} image, ${variant} variant: the script passes shellcheck as sh`, () => {
            assert.strictEqual(shellcheck(smokeTestScript(spec, IMPORTS, variant)), "");
        });
    }

    it("every python a check runs is valid python (parsed by this machine's python3)", () => {
        const checks = smokeChecks({ jobType: "training", python: "3.10", accelerator: "gpu", liveReload: true }, IMPORTS);
        const programs = checks.map((c) => /-c '([\s\S]*)'$/.exec(c.command)?.[1]).filter((code): code is string => code !== undefined);
        assert.ok(
            programs.some((code) => code.includes("cuInit")),
            "the GPU device check is among them",
        );
        for (const code of programs) {
            const r = spawnSync("python3", ["-c", "import ast, sys; ast.parse(sys.stdin.read())"], { input: code, encoding: "utf8" });
            assert.strictEqual(r.status, 0, `${code}\n${r.stderr}`);
        }
    });
});
