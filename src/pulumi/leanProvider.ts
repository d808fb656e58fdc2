/* eslint-disable @typescript-eslint/no-require-imports */
import * as path from "path";
import type * as pulumi from "@pulumi/pulumi";

export type ProviderMethod = "check" | "diff" | "create" | "read" | "update" | "delete";

/** The project folder on the machine that declares the stack; only a fallback (see below). */
const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/**
 * A dynamic provider that Pulumi stores in a few hundred bytes instead of everything its code
 * reaches. Pulumi serializes a provider object by value, with every function and module it
 * captures, into each resource's inputs and outputs; only what lives in node_modules is
 * captured by reference. So each method is one line that captures a module path and an export
 * name and hands the call to `providerHost.js`, found from the current directory (where the
 * engine starts providers), else from where the stack was declared; that file finds the project
 * folder the same way, registers ts-node and calls the implementation. The function below is
 * stored verbatim in the state: it is kept short and without comments on purpose.
 *
 * `modulePath` is relative to the project folder, without extension, e.g. `src/pulumi/registryTagProvider`.
 */
export function leanProvider(modulePath: string, exportName: string, methods: readonly ProviderMethod[]): pulumi.dynamic.ResourceProvider {
    const s = [PROJECT_ROOT, modulePath, exportName];
    const provider: Partial<Record<ProviderMethod, (...a: unknown[]) => unknown>> = {};
    for (const m of methods)
        provider[m] = (...a) => require(require.resolve("./src/pulumi/providerHost", { paths: [process.cwd(), s[0]] }))(s, m, a);
    return provider as pulumi.dynamic.ResourceProvider;
}
