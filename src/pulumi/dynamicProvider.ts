/* eslint-disable @typescript-eslint/no-require-imports */
import * as fs from "fs";
import * as path from "path";
import type * as pulumi from "@pulumi/pulumi";
import type { ImplementationName } from "./implementationNames";

/**
 * Pulumi stores a dynamic resource's provider in its inputs and outputs, serialized with every
 * function and module it reaches, except modules that live in node_modules: those it stores as a
 * `require`. So every dynamic resource here has one provider, the package in
 * `src/pulumi/providerHost/`, which npm installs as a copy in node_modules (`install-links=true`
 * in `.npmrc`): each resource stores a `require` of it (under 300 bytes) and the name of its
 * implementation (`implementedBy`), and the host loads that implementation by name
 * (`providerImplementations.ts`) in the provider's process.
 */
export const HOST_PACKAGE = "truss-base-images-provider-host";
export const IMPLEMENTATION_KEY = "__implementation";

const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
const HOST_SOURCE = path.join(PROJECT_ROOT, "src", "pulumi", "providerHost", "index.js");

let host: pulumi.dynamic.ResourceProvider | undefined;

/**
 * What is wrong with the installed host at `installed` (a real path), given its source: a
 * link to the source rather than a copy in node_modules (Pulumi would then store its code in
 * every dynamic resource), or a copy that differs from the source (an edited host needs
 * `npm ci` to reach node_modules); undefined when it is fine.
 */
export function installedHostProblem(installed: string, source: string): string | undefined {
    if (!installed.split(path.sep).includes("node_modules")) {
        return (
            `${HOST_PACKAGE} resolves to ${installed}, a link to its source rather than a copy in node_modules, so Pulumi would store ` +
            `its code in every dynamic resource. The project's .npmrc sets install-links=true; run npm ci with npm 9 or later.`
        );
    }
    if (fs.existsSync(source) && !fs.readFileSync(installed).equals(fs.readFileSync(source))) {
        return `${installed} differs from ${source}: the copy in node_modules is what Pulumi runs. Run npm ci to install the edited host.`;
    }
    return undefined;
}

/** The provider of every dynamic resource, checked once (installedHostProblem). */
export function dynamicProvider(): pulumi.dynamic.ResourceProvider {
    if (host) return host;
    let installed: string;
    try {
        installed = fs.realpathSync(require.resolve(HOST_PACKAGE, { paths: [PROJECT_ROOT] }));
    } catch {
        throw new Error(`${HOST_PACKAGE} (src/pulumi/providerHost) is not installed in ${PROJECT_ROOT}/node_modules: run npm ci there.`);
    }
    const problem = installedHostProblem(installed, HOST_SOURCE);
    if (problem) throw new Error(problem);
    host = require(installed) as pulumi.dynamic.ResourceProvider;
    return host;
}

/** A dynamic resource's inputs with the name of its implementation, which the host dispatches on. */
export function implementedBy<T extends object>(name: ImplementationName, inputs: T): T & { [IMPLEMENTATION_KEY]: ImplementationName } {
    return { ...inputs, [IMPLEMENTATION_KEY]: name };
}

/** The module of every dynamic resource's type token: `pulumi-nodejs:dynamic/truss-base-images:<name>`. */
export const TYPE_MODULE = "truss-base-images";

/**
 * Resource options that keep a resource declared before its type moved into TYPE_MODULE: its
 * old token was `pulumi-nodejs:dynamic:<name>`, and the alias lets Pulumi find it in a state.
 */
export function withFormerTypeToken(
    name: ImplementationName,
    opts: pulumi.CustomResourceOptions | undefined,
): pulumi.CustomResourceOptions {
    return { ...opts, aliases: [...(opts?.aliases ?? []), { type: `pulumi-nodejs:dynamic:${name}` }] };
}
