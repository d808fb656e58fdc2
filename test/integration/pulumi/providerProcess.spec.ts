// A dynamic provider as Pulumi's provider host runs it: serialized, written out, and called from a
// plain node process started in the project folder (another process than the one that declared it).
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { smokeTestProvider } from "../../../src/pulumi/smokeTest";

describe("dynamic providers run in their own process (plain node)", () => {
    it("a serialized provider run from the project folder loads its code from there when the folder that declared the stack is gone (plain node, no ts-node)", async () => {
        const root = path.resolve(__dirname, "..", "..", "..");
        const serialized = await pulumi.runtime.serializeFunction(() => smokeTestProvider);
        assert.ok(serialized.text.includes(JSON.stringify(root)), "the declaring folder is the stored fallback");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "moved-provider-"));
        try {
            const file = path.join(dir, "provider.js");
            fs.writeFileSync(file, serialized.text.split(JSON.stringify(root)).join(JSON.stringify(path.join(dir, "gone"))));
            const driver = `require(${JSON.stringify(file)}).${serialized.exportName}().diff("id", { digest: "sha256:a" }, { digest: "sha256:b" })
                .then((r) => process.stdout.write(JSON.stringify(r)))`;
            const out = execFileSync(process.execPath, ["-e", driver], { cwd: root, encoding: "utf8", timeout: 60_000 });
            assert.deepEqual(JSON.parse(out), { changes: true, replaces: ["digest"], deleteBeforeReplace: false });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
