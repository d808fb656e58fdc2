import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../core/config";
import type { PlannedImage } from "../core/plan";

/**
 * Where each image is built, as the stack's resources see it: the Docker provider to build
 * with, what must be ready before the build starts, and the network mode for RUN steps.
 */
export interface Builders {
    /** The Docker provider that builds this image; undefined means the default provider (local daemon). */
    providerFor(image: PlannedImage): docker.Provider | undefined;
    /** Resources that must be ready before this image builds (e.g. a runner's readiness gate). */
    dependenciesFor(image: PlannedImage): pulumi.Resource[];
    /** Network mode for RUN instructions, or undefined for the daemon's default. */
    networkFor(image: PlannedImage): string | undefined;
}

/** Declares the builders of a stack (nothing to declare for the local daemon). */
export function declareBuilders(config: StackConfig, _plan: readonly PlannedImage[], _opts?: pulumi.ComponentResourceOptions): Builders {
    switch (config.builders.mode) {
        case "local": {
            const network = config.builders.network;
            return { providerFor: () => undefined, dependenciesFor: () => [], networkFor: () => network };
        }
    }
}
