// Running this project's dynamic providers the way the Pulumi engine does. Every dynamic
// resource has one provider, the host package (src/pulumi/providerHost) that the resource reaches
// by the name in its `__implementation` input. `callSerialized` serializes that provider with
// Pulumi's closure serializer, as a dynamic resource does, and loads the text in a plain node
// process (no ts-node) started in the project folder with `require-from-string`, as Pulumi's
// provider server does; `hosted` calls the installed host in this process.
import * as assert from "assert";
import { spawn } from "child_process";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { dynamicProvider, IMPLEMENTATION_KEY } from "../../src/pulumi/dynamicProvider";
import type { ImplementationName } from "../../src/pulumi/implementationNames";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

type Method = "check" | "diff" | "create" | "read" | "update" | "delete";

export interface SerializedCall {
    readonly ok: boolean;
    readonly result?: any;
    readonly error?: string;
}

/** The arguments of a provider method with the implementation's name in each property bag, as the engine passes them. */
export function withImplementation(name: ImplementationName, method: Method, args: readonly unknown[]): unknown[] {
    const tag = (props: unknown) => ({ ...(props as object), [IMPLEMENTATION_KEY]: name });
    switch (method) {
        case "check": // (olds, news)
            return [tag(args[0]), tag(args[1])];
        case "create": // (inputs)
            return [tag(args[0])];
        case "diff": // (id, olds, news)
        case "update":
            return [args[0], tag(args[1]), tag(args[2])];
        case "read": // (id, props)
        case "delete":
            return [args[0], tag(args[1])];
    }
}

type Hosted = Required<Pick<pulumi.dynamic.ResourceProvider, Method>>;

function forKind(provider: pulumi.dynamic.ResourceProvider, name: ImplementationName): Hosted {
    const call =
        (method: Method) =>
        (...args: unknown[]): Promise<any> =>
            (provider[method] as (...a: unknown[]) => Promise<unknown>)(...withImplementation(name, method, args));
    return {
        check: call("check"),
        diff: call("diff"),
        create: call("create"),
        read: call("read"),
        update: call("update"),
        delete: call("delete"),
    } as Hosted;
}

/** The provider of resources of kind `name`: the installed host, in this process, with the name added to the props. */
export function hosted(name: ImplementationName): Hosted {
    return forKind(dynamicProvider(), name);
}

/** Pulumi's own loader of a serialized provider: its provider server's `require-from-string`. */
const REQUIRE_FROM_STRING = require.resolve("require-from-string", { paths: [require.resolve("@pulumi/pulumi")] });

function requireFromString(): (code: string) => { handler: () => pulumi.dynamic.ResourceProvider } {
    return require(REQUIRE_FROM_STRING);
}

/** The provider of resources of kind `name` as the serialized text loads it, in this process (cwd: the project folder). */
export async function loadSerialized(name: ImplementationName): Promise<Hosted> {
    return forKind(requireFromString()(await serializedProviderText()).handler(), name);
}

/** The text Pulumi stores as every dynamic resource's `__provider`. */
export async function serializedProviderText(): Promise<string> {
    const provider = dynamicProvider();
    return (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;
}

/**
 * Calls `method(...args)` of a resource of kind `name` in a fresh node process, through the
 * serialized provider: the text loaded with require-from-string from the project folder, as
 * Pulumi's provider server loads `__provider`. `cwd` is that process's folder (the project's by default).
 */
export async function callSerialized(
    name: ImplementationName,
    method: Method,
    args: unknown[],
    opts: { readonly cwd?: string } = {},
): Promise<SerializedCall> {
    const text = await serializedProviderText();
    const driver = `
        const provider = require(${JSON.stringify(REQUIRE_FROM_STRING)})(${JSON.stringify(text)}).handler();
        Promise.resolve()
            .then(() => provider[${JSON.stringify(method)}](...${JSON.stringify(withImplementation(name, method, args))}))
            .then((result) => process.stdout.write(JSON.stringify({ ok: true, result })))
            .catch((e) => process.stdout.write(JSON.stringify({ ok: false, error: e.message })));
    `;
    // Asynchronous, so that servers of the calling process (a test's token server) keep answering.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ["-e", driver], { cwd: opts.cwd ?? PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] });
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
    assert.strictEqual(r.status, 0, `the serialized provider's ${method} crashed:\n${r.stderr}`);
    return JSON.parse(r.stdout);
}
