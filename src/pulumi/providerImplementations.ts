/* eslint-disable @typescript-eslint/no-require-imports */
// Every dynamic provider of this project, by the name its resources carry in `__implementation`.
// The provider host (src/pulumi/providerHost/index.js) loads this file in Pulumi's provider
// process; each entry requires its module only when a resource of that kind is handled, so a
// process that only checks a readiness gate never loads the registry client.
//
// A name stays valid for as long as a stack's state may hold it: rename the module an entry
// requires as you like, but keep the name, or the resources already in a state cannot be
// refreshed or deleted.
import type * as pulumi from "@pulumi/pulumi";

const implementations = {
    RegistryTag: () => require("./registryTagProvider").registryTagProvider,
    RegistryIndex: () => require("./registryIndexProvider").registryIndexProvider,
    EstargzImage: () => require("./estargzImageProvider").estargzImageProvider,
    SmokeTest: () => require("./smokeTest").smokeTestImplementation,
    SmokedStagingTag: () => require("./smokedStagingTagProvider").smokedStagingTagImplementation,
    ReadinessGate: () => require("./readiness").readinessGateImplementation,
    WorkTicket: () => require("./workTicket").workTicketImplementation,
} satisfies Record<string, () => pulumi.dynamic.ResourceProvider>;

export type ImplementationName = keyof typeof implementations;

export const IMPLEMENTATION_NAMES = Object.keys(implementations) as ImplementationName[];

/** The implementation a resource names; one error naming the known ones for anything else. */
export function implementationOf(name: string): pulumi.dynamic.ResourceProvider {
    if (!Object.prototype.hasOwnProperty.call(implementations, name)) {
        throw new Error(
            `no dynamic provider named ${JSON.stringify(name)} in truss-base-images (known: ${IMPLEMENTATION_NAMES.join(", ")}). ` +
                `The state was written by another version of the program: check out the version that wrote it to delete or refresh this resource.`,
        );
    }
    return implementations[name as ImplementationName]();
}
