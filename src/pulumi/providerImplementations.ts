/* eslint-disable @typescript-eslint/no-require-imports */
// Every dynamic provider of this project, by the name its resources carry in `__implementation`.
// The provider host (src/pulumi/providerHost/index.js) loads this file in Pulumi's provider
// process; each entry requires its module only when a resource of that kind is handled, so a
// process that only checks a readiness gate never loads the registry client.
//
// Rename the module an entry requires as you like, but keep its name (implementationNames.ts).
import type * as pulumi from "@pulumi/pulumi";
import { IMPLEMENTATION_NAMES, ImplementationName } from "./implementationNames";

const implementations = {
    RegistryTag: () => require("./registryTagProvider").registryTagProvider,
    RegistryIndex: () => require("./registryIndexProvider").registryIndexProvider,
    EstargzImage: () => require("./estargzImageProvider").estargzImageProvider,
    SmokeTest: () => require("./smokeTestProvider").smokeTestImplementation,
    SmokedStagingTag: () => require("./smokedStagingTagProvider").smokedStagingTagImplementation,
    ReadinessGate: () => require("./readinessGateProvider").readinessGateImplementation,
    WorkTicket: () => require("./workTicketProvider").workTicketImplementation,
    RunnerHostKey: () => require("./runnerHostKeyProvider").runnerHostKeyImplementation,
} satisfies Record<ImplementationName, () => pulumi.dynamic.ResourceProvider>;

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
