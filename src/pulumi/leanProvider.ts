import * as path from "path";
import type * as pulumi from "@pulumi/pulumi";

export type ProviderMethod = "check" | "diff" | "create" | "read" | "update" | "delete";

/** The project folder on the machine that declares the stack; only a fallback (see below). */
const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/**
 * A dynamic provider that Pulumi stores as a few hundred bytes instead of everything its code
 * reaches. Pulumi serializes a provider object by value, with every function and module it
 * captures, into each resource's inputs and outputs; it captures only what lives in
 * node_modules by reference. So the methods here capture nothing but a module path and an
 * export name, and `require` the implementation when the engine calls them, in the provider's
 * own process: from the project folder (the engine starts providers there), else from where it
 * was declared. The implementation is this project's TypeScript, so that process registers
 * ts-node first, as `pulumi` itself does for a TypeScript program.
 *
 * `modulePath` is relative to the project folder, without extension, e.g. `src/pulumi/registryTagProvider`.
 */
export function leanProvider(modulePath: string, exportName: string, methods: readonly ProviderMethod[]): pulumi.dynamic.ResourceProvider {
    const declaredRoot = PROJECT_ROOT;
    const load = (): Record<ProviderMethod, (...args: unknown[]) => Promise<unknown>> => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const nodePath = require("path") as typeof path;
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const fs = require("fs") as typeof import("fs");
        const root = [process.cwd(), declaredRoot].find((r) => fs.existsSync(nodePath.join(r, `${modulePath}.ts`)));
        if (root === undefined) {
            throw new Error(
                `The provider's code ${modulePath}.ts is neither under ${process.cwd()} nor under ${declaredRoot}; run pulumi from the project folder.`,
            );
        }
        if (!(process as unknown as Record<symbol, unknown>)[Symbol.for("ts-node.register.instance")]) {
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            const tsNode = require(require.resolve("ts-node", { paths: [root] })) as typeof import("ts-node");
            tsNode.register({ transpileOnly: true, project: nodePath.join(root, "tsconfig.json") });
        }
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        return require(nodePath.join(root, modulePath))[exportName];
    };
    const provider: Partial<Record<ProviderMethod, (...args: unknown[]) => Promise<unknown>>> = {};
    for (const method of methods) provider[method] = (...args: unknown[]) => load()[method](...args);
    return provider as pulumi.dynamic.ResourceProvider;
}
