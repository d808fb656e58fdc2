import type { ImageSpec, RegistryTarget } from "./spec";
import type { JobType } from "./dimensions";
import type { Compression } from "./platforms";

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
 * the image the builder pushed (`build-<64 hex>`), which the conversion reads. The conversion
 * runs only after the smoke test passed, so this tag is also the proof of an eStargz stack (see
 * proofStagingTag).
 */
export function estargzStagingTag(contentDigest: string): string {
    return `${stagingTag(contentDigest)}-estargz`;
}

/**
 * `build-<64 hex>-smoked`: the same manifest as the gzip staging tag (`build-<64 hex>`), written
 * only once that image passed its smoke test: the proof of a gzip stack (see proofStagingTag).
 * The build pushes `build-<64 hex>` before the test runs, so that tag proves nothing.
 */
export function smokedStagingTag(contentDigest: string): string {
    return `${stagingTag(contentDigest)}-smoked`;
}

/**
 * The staging tag that proves a platform image passed everything before its publication: only an
 * image under this tag (with the right content digest label) counts as staged, and a later
 * update publishes it without building or testing it again. Any other staging tag of the image
 * was never proven: it is built and smoke-tested again.
 * - gzip: `build-<64 hex>-smoked` (smokedStagingTag), which SmokedStagingTag writes after the
 *   smoke test passed; the build's own `build-<64 hex>` is pushed before the test.
 * - estargz: `build-<64 hex>-estargz` (estargzStagingTag), the converted image. EstargzImage
 *   writes it and is declared depending on the smoke test, so the tag exists only once the test
 *   and the conversion passed; no marker is needed. (An eStargz image's `-smoked` tag, written by
 *   earlier versions after its `-estargz` tag, held the same manifest; it is no longer read.)
 */
export function proofStagingTag(contentDigest: string, compression: Compression): string {
    return compression === "estargz" ? estargzStagingTag(contentDigest) : smokedStagingTag(contentDigest);
}

/** Whether a tag is a staging tag: gzip, eStargz, or the smoked marker of gzip images (for clean-up scripts and listings). */
export function isStagingTag(tag: string): boolean {
    return /^build-[a-f0-9]{64}(-estargz|-smoked)?$/.test(tag);
}
