// The npm-run commands refuse a registryPassword stored in plain text in the stack file, as the
// Pulumi program does, before they read anything else or ask any registry; the password is
// never printed. The registry named is a closed loopback port: a command that got as far as
// asking it would say so instead.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { runParents } from "../../../src/cli/parents";
import { runPlan } from "../../../src/cli/plan";
import { runReleaseCheck } from "../../../src/cli/releaseCheck";
import type { CliIO } from "../../../src/cli/common";
import { tempDir } from "../../support/fixtures";

const PASSWORD = "plain-hunter2-never-printed";

function project(): string {
    const dir = tempDir("plain-password");
    const config = {
        versionTag: "v1.0.0",
        registry: { server: "127.0.0.1:9", namespace: "baseten", username: "truss" },
        registryPassword: PASSWORD,
        matrix: { jobTypes: ["server"], pythonVersions: ["3.9"], gpu: [false], liveReload: [false] },
        builders: { mode: "local" },
    };
    const entries = Object.fromEntries(Object.entries(config).map(([k, v]) => [`truss-base-images:${k}`, v]));
    fs.writeFileSync(path.join(dir, "Pulumi.t.yaml"), YAML.stringify({ config: entries }));
    return dir;
}

describe("the CLIs refuse a plain-text registryPassword as the program does", () => {
    const commands: [string, (argv: string[], io: CliIO) => Promise<number>][] = [
        ["npm run plan", runPlan],
        ["npm run release-check", runReleaseCheck],
        ["npm run parents", (argv, io) => runParents(argv, io)],
    ];
    for (const [name, run] of commands) {
        it(`${name}: exit 1 with one message naming the key and how to make it a secret, never the password`, async () => {
            let stdout = "";
            let stderr = "";
            const io: CliIO = { projectDir: project(), env: {}, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) };
            const code = await run(["--stack", "t"], io);
            assert.strictEqual(code, 1, stderr);
            assert.match(stderr, /Invalid configuration in Pulumi\.t\.yaml/);
            assert.match(
                stderr,
                /truss-base-images:registryPassword: is stored in plain text; it must be a secret\. Run `pulumi config set --secret registryPassword`/,
            );
            assert.doesNotMatch(stderr, /unreachable|127\.0\.0\.1:9/, "no registry was asked");
            assert.ok(!stdout.includes(PASSWORD) && !stderr.includes(PASSWORD), "the password is never printed");
        });
    }
});
