// Running a Pulumi dynamic provider the way the Pulumi engine does: serialized by Pulumi's closure
// serializer and loaded in a plain node process (no ts-node), so that a test proves the code
// that really runs in `pulumi up`, captured modules and all.
import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

export interface SerializedCall {
    readonly ok: boolean;
    readonly result?: any;
    readonly error?: string;
}

/** Calls `method(...args)` of the serialized provider in a fresh node process. */
export async function callSerialized(
    provider: pulumi.dynamic.ResourceProvider,
    method: keyof pulumi.dynamic.ResourceProvider,
    args: unknown[],
): Promise<SerializedCall> {
    const serialized = await pulumi.runtime.serializeFunction(() => provider);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dynamic-provider-"));
    const file = path.join(dir, "provider.js");
    fs.writeFileSync(file, serialized.text);
    const driver = `
        const provider = require(${JSON.stringify(file)}).${serialized.exportName}();
        provider[${JSON.stringify(method)}](...${JSON.stringify(args)})
            .then((result) => process.stdout.write(JSON.stringify({ ok: true, result })))
            .catch((e) => process.stdout.write(JSON.stringify({ ok: false, error: e.message })));
    `;
    // Asynchronous, so that servers of the calling process (a test's token server) keep answering.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ["-e", driver], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
        const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
        child.on("close", (status) => {
            clearTimeout(timer);
            resolve({ status, stdout, stderr });
        });
    });
    fs.rmSync(dir, { recursive: true, force: true });
    assert.strictEqual(r.status, 0, `the serialized provider's ${String(method)} crashed:\n${r.stderr}`);
    return JSON.parse(r.stdout);
}
