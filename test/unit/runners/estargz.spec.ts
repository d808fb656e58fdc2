import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { convertedDigest, EstargzConversion, estargzCommand, estargzScript } from "../../../src/runners/estargz";
import { emulationProblem } from "../../../src/runners/emulation";
import { tempDir } from "../../support/fixtures";

const conversion: EstargzConversion = {
    source: "docker.io/baseten/truss-server-base:build-" + "a".repeat(64),
    target: "docker.io/baseten/truss-server-base:build-" + "a".repeat(64) + "-estargz",
    platform: "linux/arm64",
    plainHttp: false,
    sudo: true,
};

/**
 * Runs the script with `ctr` and `ctr-remote` replaced by stubs on PATH that log their
 * arguments (and answer `images ls` as ctr does), to check the shell logic itself; the real
 * conversion is in test/integration/publish/estargz.spec.ts.
 */
function runWithStubs(c: EstargzConversion, stdin: string): { status: number | null; stdout: string; calls: string[] } {
    const dir = tempDir("ctr-stubs");
    const log = path.join(dir, "calls.log");
    const stub = `#!/bin/sh\nprintf '%s\\n' "$(basename "$0") $*" >> ${log}\ncase "$*" in *"images ls"*) printf 'REF TYPE DIGEST\\nx oci sha256:${"e".repeat(64)}\\n';; esac\n`;
    for (const name of ["ctr", "ctr-remote", "sudo"]) {
        const body = name === "sudo" ? `#!/bin/sh\nprintf '%s\\n' "sudo $*" >> ${log}\nshift\nexec "$@"\n` : stub;
        fs.writeFileSync(path.join(dir, name), body, { mode: 0o755 });
    }
    const command = estargzCommand(undefined, estargzScript(c));
    const r = spawnSync(command.file, command.args, {
        input: stdin,
        encoding: "utf8",
        env: { PATH: `${dir}:/usr/bin:/bin` },
        timeout: 10_000,
    });
    const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
    fs.rmSync(dir, { recursive: true, force: true });
    return { status: r.status, stdout: r.stdout, calls };
}

describe("eStargz conversion command lines", () => {
    it("fetches, converts with --estargz --oci for the image's platform, pushes, and prints the converted digest (stub ctr)", () => {
        const r = runWithStubs({ ...conversion, sudo: false }, "\n");
        assert.equal(r.status, 0);
        assert.equal(convertedDigest(r.stdout), `sha256:${"e".repeat(64)}`);
        assert.deepStrictEqual(r.calls, [
            `ctr content fetch --platform linux/arm64 ${conversion.source}`,
            `ctr-remote image convert --estargz --oci --platform linux/arm64 ${conversion.source} ${conversion.target}`,
            `ctr-remote image push --platform linux/arm64 ${conversion.target}`,
            `ctr images ls name==${conversion.target}`,
            `ctr images rm ${conversion.source} ${conversion.target}`,
        ]);
    });

    it("takes registry credentials from standard input, never from its command line, and runs ctr with sudo on runners (stub ctr)", () => {
        const script = estargzScript(conversion);
        assert.ok(!script.includes("hunter2"));
        const r = runWithStubs(conversion, "basetenservice:hunter2 with space\n");
        assert.equal(r.status, 0);
        const fetch = r.calls.find((c) => c.startsWith("ctr content fetch"))!;
        assert.equal(fetch, `ctr content fetch --platform linux/arm64 --user basetenservice:hunter2 with space ${conversion.source}`);
        assert.ok(r.calls.some((c) => c.startsWith("sudo -n ctr-remote image push")));
        assert.ok(r.calls.find((c) => c.startsWith("ctr-remote image push"))!.includes("--user basetenservice:hunter2"));
    });

    it("runs on the runner through the Docker provider's ssh, as one quoted argument", () => {
        const sshOpts = ["-o", "BatchMode=yes"];
        const command = estargzCommand({ host: "ssh://ubuntu@203.0.113.10", sshOpts }, estargzScript(conversion));
        assert.equal(command.file, "ssh");
        assert.deepStrictEqual(command.args.slice(0, 5), ["-o", "BatchMode=yes", "-T", "ubuntu@203.0.113.10", "--"]);
        assert.match(command.args[5], /^sh -c '/);
        assert.deepStrictEqual(estargzCommand(undefined, "true"), { file: "sh", args: ["-c", "true"] });
        assert.ok(
            estargzScript({ ...conversion, plainHttp: true, address: "/tmp/c.sock" }).includes(
                "--address /tmp/c.sock content fetch --plain-http",
            ),
        );
    });
});

describe("local emulation for foreign platforms", () => {
    it("needs nothing for the host's own architecture", () => {
        assert.equal(emulationProblem("linux/amd64", "x64", []), undefined);
        assert.equal(emulationProblem("linux/arm64", "arm64", []), undefined);
    });

    it("accepts a foreign platform whose QEMU binfmt entry is registered", () => {
        assert.equal(emulationProblem("linux/arm64", "x64", ["register", "status", "qemu-aarch64"]), undefined);
    });

    it("refuses one without it, and says how to enable emulation or build natively", () => {
        const problem = emulationProblem("linux/arm64", "x64", ["register", "status"])!;
        assert.match(problem, /linux\/arm64/);
        assert.match(problem, /qemu-aarch64/);
        assert.match(problem, /apt-get install qemu-user-static binfmt-support/);
        assert.match(problem, /builders\.arm64 pool/);
    });
});
