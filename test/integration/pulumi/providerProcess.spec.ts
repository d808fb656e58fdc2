// Dynamic providers as Pulumi's provider server runs them: the stored `__provider` text loaded
// with require-from-string in a plain node process (no ts-node), started in the project folder
// or below it, another process than the one that declared the stack.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { callSerialized, PROJECT_ROOT, serializedProviderText } from "../../support/dynamicProviders";

describe("dynamic providers run in their own process (plain node)", () => {
    it("the stored provider is a require of the installed host, and names no folder of the machine that declared the stack", async () => {
        const text = await serializedProviderText();
        assert.match(text, /require\("truss-base-images-provider-host(\/index\.js)?"\)/);
        assert.ok(!text.includes(PROJECT_ROOT), text);
        assert.ok(Buffer.byteLength(text) < 400, `${Buffer.byteLength(text)} bytes`);
    });

    it("run from the project folder, it registers ts-node and reaches each implementation by its name", async () => {
        assert.deepStrictEqual(await callSerialized("SmokeTest", "diff", ["id", { digest: "sha256:a" }, { digest: "sha256:b" }]), {
            ok: true,
            result: { changes: true, replaces: ["digest"], deleteBeforeReplace: false },
        });
        const created = await callSerialized("WorkTicket", "create", [{ runner: "gpu-0", builds: ["a"] }]);
        assert.ok(created.ok, created.error);
        assert.deepStrictEqual(created.result.outs, { runner: "gpu-0", builds: ["a"], __implementation: "WorkTicket" });
    });

    it("run from a folder below the project, it finds the project through where the host is installed", async () => {
        fs.mkdirSync(path.join(PROJECT_ROOT, ".build"), { recursive: true });
        const below = fs.mkdtempSync(path.join(PROJECT_ROOT, ".build", "provider-cwd-"));
        try {
            const r = await callSerialized("ReadinessGate", "diff", ["id", { builds: [] }, { builds: ["a"] }], { cwd: below });
            assert.deepStrictEqual(r, { ok: true, result: { changes: true } });
        } finally {
            fs.rmSync(below, { recursive: true, force: true });
        }
    });
});
