import type { ImageSpec, RegistryTarget } from "./spec";
import type { JobType } from "./dimensions";

/**
 * The tag and repository formats are a contract: Truss looks its base images up by exactly
 * these names. Everything else (tests, README tables, the plan CLI) calls these functions.
 */

/** The Docker tag grammar: at most 128 characters, the first a word character. */
export const DOCKER_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** `truss-server-base` */
export function repositoryName(jobType: JobType): string {
    return `truss-${jobType}-base`;
}

/** `docker.io/baseten/truss-server-base`: always fully qualified. */
export function repository(registry: RegistryTarget, jobType: JobType): string {
    return `${registry.server}/${registry.namespace}/${repositoryName(jobType)}`;
}

/** The tag without the version: `3.9-gpu-reload`. */
export function variant(spec: ImageSpec): string {
    return `${spec.python}${spec.accelerator === "gpu" ? "-gpu" : ""}${spec.liveReload ? "-reload" : ""}`;
}

/** `3.9-gpu-reload-v0.2.2` */
export function tag(spec: ImageSpec, versionTag: string): string {
    return `${variant(spec)}-${versionTag}`;
}

/** `docker.io/baseten/truss-server-base:3.9-gpu-v0.2.2` */
export function imageReference(registry: RegistryTarget, spec: ImageSpec, versionTag: string): string {
    return `${repository(registry, spec.jobType)}:${tag(spec, versionTag)}`;
}

/** The longest tag prefix any image of these python versions can have, e.g. `3.10-gpu-reload-`. */
export function longestVariantPrefix(pythonVersions: Iterable<string>): string {
    let longest = "";
    for (const python of pythonVersions) {
        const v = `${variant({ jobType: "", python, accelerator: "gpu", liveReload: true })}-`;
        if (v.length > longest.length) longest = v;
    }
    return longest;
}

/**
 * Where a build pushes: `build-<64 hex of the content digest>` in the image's own repository.
 * It is outside the published tag format (`<python>...-<versionTag>` always starts with a
 * digit), so a build never writes a published tag: only the registry code does, after checking
 * the tag (src/registry/publish.ts).
 */
export function stagingTag(contentDigest: string): string {
    const hex = /^sha256:([a-f0-9]{64})$/.exec(contentDigest)?.[1];
    if (!hex) throw new Error(`expected a content digest sha256:<64 hex>, got ${JSON.stringify(contentDigest)}`);
    return `build-${hex}`;
}

/** `docker.io/baseten/truss-server-base:build-<64 hex>` */
export function stagingReference(repositoryRef: string, contentDigest: string): string {
    return `${repositoryRef}:${stagingTag(contentDigest)}`;
}

/**
 * `build-<64 hex>-estargz`: the staged image converted to eStargz with OCI media types, beside
 * the image the builder pushed (`build-<64 hex>`), which the conversion reads.
 */
export function estargzStagingTag(contentDigest: string): string {
    return `${stagingTag(contentDigest)}-estargz`;
}

/**
 * `build-<64 hex>-smoked`: the same manifest as the finished staging tag (`build-<64 hex>`, or its
 * `-estargz` conversion), written only once that image passed its smoke test (and, with eStargz,
 * was converted). Only an image under this tag counts as staged: a later update publishes it
 * without building or testing it again. A staging tag without it was never proven, and is built
 * and smoke-tested again.
 */
export function smokedStagingTag(contentDigest: string): string {
    return `${stagingTag(contentDigest)}-smoked`;
}

/** Whether a tag is a staging tag: gzip, eStargz, or the smoked marker (for clean-up scripts and listings). */
export function isStagingTag(tag: string): boolean {
    return /^build-[a-f0-9]{64}(-estargz|-smoked)?$/.test(tag);
}
