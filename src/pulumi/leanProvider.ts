/* eslint-disable @typescript-eslint/no-require-imports */
import * as path from "path";
import type * as pulumi from "@pulumi/pulumi";

export type ProviderMethod = "check" | "diff" | "create" | "read" | "update" | "delete";

/** The project folder on the machine that declares the stack; only a fallback (see below). */
const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

type Loaded = Record<ProviderMethod, (...args: unknown[]) => Promise<unknown>>;

/**
 * A dynamic provider that Pulumi stores as about a kilobyte instead of everything its code
 * reaches. Pulumi serializes a provider object by value, with every function and module it
 * captures, into each resource's inputs and outputs; only what lives in node_modules is
 * captured by reference. So these methods capture nothing but a module path and an export
 * name, and `require` the implementation when the engine calls them, in the provider's own
 * process: from the project folder (where the engine starts providers), else from where the
 * stack was declared. The implementation is this project's TypeScript, so that process
 * registers ts-node first, as `pulumi` does for the program itself. The function bodies below
 * are stored verbatim in the state: they are kept short and without comments on purpose.
 *
 * `modulePath` is relative to the project folder, without extension, e.g. `src/pulumi/registryTagProvider`.
 */
export function leanProvider(modulePath: string, exportName: string, methods: readonly ProviderMethod[]): pulumi.dynamic.ResourceProvider {
    const root = PROJECT_ROOT;
    const load = (): Loaded => {
        const p = require("path") as typeof path;
        const at = [process.cwd(), root].find((r) => require("fs").existsSync(p.join(r, modulePath + ".ts"))) ?? root;
        if (!(process as unknown as Record<symbol, unknown>)[Symbol.for("ts-node.register.instance")])
            require(require.resolve("ts-node", { paths: [at] })).register({ transpileOnly: true, project: p.join(at, "tsconfig.json") });
        return require(p.join(at, modulePath))[exportName];
    };
    const provider: Partial<Loaded> = {};
    for (const m of methods) provider[m] = (...a: unknown[]) => load()[m](...a);
    return provider as pulumi.dynamic.ResourceProvider;
}
