import type { Accelerator, JobType, PythonVersion } from "./dimensions";

/** One base image of the matrix, before any version tag or registry is chosen. */
export interface ImageSpec {
    readonly jobType: JobType;
    readonly python: PythonVersion;
    readonly accelerator: Accelerator;
    readonly liveReload: boolean;
}

/** `sha256:<64 hex>`: the hash of everything that goes into an image (never its version tag). */
export type ContentDigest = `sha256:${string}`;

/** Where images are pushed: `<server>/<namespace>/truss-<jobType>-base`. */
export interface RegistryTarget {
    readonly server: string;
    readonly namespace: string;
    readonly username?: string;
    /** Hosts of token services, besides the registry's own, that may receive its credentials. */
    readonly tokenRealmHosts?: readonly string[];
}
