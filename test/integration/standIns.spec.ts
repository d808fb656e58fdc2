// The stand-in parents (test/support/standIns.ts) and `npm run stand-in-parents`: what they push,
// and that each is shaped like python:<X> where Truss relies on it.
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as path from "path";
import { promisify } from "util";
import { docker, ensureDockerDaemon } from "../support/docker";
import { PROJECT_DIR } from "../support/fixtures";
import { startRegistry, TestRegistry } from "../support/registry";
import { STAND_IN_PYTHONS, STAND_IN_REPOSITORY, standIn } from "../support/standIns";

const run = promisify(execFile);
const CLI = ["-r", "ts-node/register/transpile-only", path.join(PROJECT_DIR, "test/support/standInParentsCli.ts")];

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
        const r = await run("node", [...CLI, ...args], { cwd: PROJECT_DIR, maxBuffer: 16 * 1024 * 1024 });
        return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
        const err = e as { code?: number; stdout?: string; stderr?: string };
        return { code: err.code ?? 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
    }
}

// Prints one line per property the stand-in must have; a missing one prints nothing.
const PROBE = `
grep -q '^ID=debian' /etc/os-release && echo os-release
[ "$(command -v python3)" = /usr/local/bin/python3 ] && echo python3-on-path
python3 -m pip --version | grep -q ' from /usr/local/lib/python3' && echo pip-in-usr-local
ls /usr/lib/python3*/EXTERNALLY-MANAGED >/dev/null 2>&1 || echo not-externally-managed
python3 -m venv /tmp/v && /tmp/v/bin/python -c 'import sys' && echo venv
python3 -c 'import sysconfig, os; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' && echo headers
for t in gcc make git curl bash useradd; do command -v $t >/dev/null && echo $t; done
`;

describe("integration: the stand-in python parents (debootstrap, real Debian packages)", function () {
    this.timeout(30 * 60_000);
    let registry: TestRegistry | undefined;

    before(async () => {
        await ensureDockerDaemon();
        registry = await startRegistry();
    });
    after(async () => {
        await registry?.stop();
    });

    for (const python of STAND_IN_PYTHONS) {
        it(`python ${python}: Debian, python ${python} at /usr/local/bin/python3 first on PATH, pip in /usr/local, venv, headers, gcc, make, git, curl, bash, useradd`, async () => {
            const ref = await standIn(python);
            assert.ok(ref.startsWith(`${STAND_IN_REPOSITORY}:${python}-`), ref);
            const out = (await docker(["run", "--rm", "--network", "none", ref, "/bin/sh", "-c", PROBE])).stdout.trim().split("\n");
            assert.deepEqual(out, [
                "os-release",
                "python3-on-path",
                "pip-in-usr-local",
                "not-externally-managed",
                "venv",
                "headers",
                "gcc",
                "make",
                "git",
                "curl",
                "bash",
                "useradd",
            ]);
            const version = (await docker(["run", "--rm", "--network", "none", ref, "python3", "--version"])).stdout.trim();
            assert.match(version, new RegExp(`^Python ${python.replace(".", "\\.")}\\.\\d+$`));
        });
    }

    it("npm run stand-in-parents pushes each to <registry>/library/python:<X> and prints its reference with the digest the registry serves", async () => {
        const host = registry!.host;
        const r = await cli(["--registry", host]);
        assert.equal(r.code, 0, r.stderr);
        for (const python of STAND_IN_PYTHONS) {
            const m = new RegExp(`^python:${python.replace(".", "\\.")} \\(Debian \\w+\\) -> (\\S+)@(sha256:[0-9a-f]{64})$`, "m").exec(
                r.stdout,
            );
            assert.ok(m, `no line for python ${python} in:\n${r.stdout}`);
            assert.equal(m[1], `${host}/library/python:${python}`);
            const res = await fetch(`http://${host}/v2/library/python/manifests/${python}`, {
                method: "HEAD",
                headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json" },
            });
            assert.equal(res.status, 200);
            assert.equal(res.headers.get("docker-content-digest"), m[2]);
        }
        const tags = (await docker(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])).stdout;
        assert.doesNotMatch(
            tags,
            new RegExp(`^${host.replace(/\./g, "\\.")}/library/python:`, "m"),
            "the push tags are left in the daemon",
        );
    });

    it("refuses a missing registry or an unknown python with one clear error, exit 2", async () => {
        const none = await cli([]);
        assert.equal(none.code, 2);
        assert.match(none.stderr, /^--registry "" is not a registry host\[:port\] \(e\.g\. 127\.0\.0\.1:5000\)\nusage: /);
        const py = await cli(["--registry", "127.0.0.1:5000", "--python", "3.9"]);
        assert.equal(py.code, 2);
        assert.match(py.stderr, /^--python 3\.9: there are stand-ins for 3\.11, 3\.13 only\n/);
    });
});
