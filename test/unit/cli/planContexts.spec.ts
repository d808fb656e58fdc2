// `npm run plan -- --contexts <dir>` without a registry (push: false): each image's folder is
// named by the content digest the plan shows for it, with one folder per platform inside when
// the tag holds several.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { runPlan } from "../../../src/cli/plan";
import { tempDir } from "../../support/fixtures";
import { fixtureCheckout } from "../../support/trussCheckouts";

function project(matrix: Record<string, unknown>): string {
    const dir = tempDir("plan-contexts");
    const config = {
        truss: { checkout: fixtureCheckout("today") },
        registry: { server: "127.0.0.1:9", namespace: "baseten" },
        matrix: { jobTypes: ["server"], pythonVersions: ["3.11"], gpu: [false], liveReload: [false], ...matrix },
        builders: { mode: "local" },
        push: false,
    };
    const entries = Object.fromEntries(Object.entries(config).map(([k, v]) => [`truss-base-images:${k}`, v]));
    fs.writeFileSync(path.join(dir, "Pulumi.t.yaml"), YAML.stringify({ config: entries }));
    return dir;
}

async function plan(dir: string, contexts: string) {
    let stdout = "";
    let stderr = "";
    const code = await runPlan(["--stack", "t", "--contexts", contexts, "--json"], {
        projectDir: dir,
        env: {},
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
    });
    assert.equal(code, 0, stderr);
    return JSON.parse(stdout) as { contentDigest: string; context: string; platforms: { platform: string; contentDigest: string }[] }[];
}

describe("npm run plan --contexts: folders named by the content digest the plan shows", () => {
    it("two platforms: <dir>/<image content digest hex>/<each platform's content digest hex>/, each that platform's staged context", async () => {
        const out = path.join(tempDir("ctx"), "out");
        const [item] = await plan(project({ platforms: ["linux/amd64", "linux/arm64"] }), out);
        const hex = item.contentDigest.slice("sha256:".length);
        assert.equal(item.context, path.join(out, hex));
        const platformHex = item.platforms.map((p) => p.contentDigest.slice("sha256:".length));
        assert.deepEqual(fs.readdirSync(item.context).sort(), [...platformHex].sort());
        assert.ok(!platformHex.includes(hex), "the image's digest covers both platforms");
        for (const p of platformHex)
            assert.deepEqual(fs.readdirSync(path.join(item.context, p)).sort(), ["Dockerfile", "requirements.txt"]);
        assert.deepEqual(fs.readdirSync(out), [hex]);
    });

    it("one platform: <dir>/<content digest hex>/ holds the context itself", async () => {
        const out = path.join(tempDir("ctx"), "out");
        const [item] = await plan(project({}), out);
        assert.equal(item.context, path.join(out, item.contentDigest.slice("sha256:".length)));
        assert.deepEqual(fs.readdirSync(item.context).sort(), ["Dockerfile", "requirements.txt"]);
    });
});
