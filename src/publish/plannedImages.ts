import type { Catalog } from "../images/catalog";
import type { StackConfig } from "../config/stackConfig";
import { stageImage, StagedContext } from "../images/context";
import type { ContentDigest, ImageSpec } from "../images/spec";
import { expandMatrix } from "../images/matrix";
import { imageReference, repository, repositoryName, tag } from "../images/naming";
import { poolOf, Pool } from "../runners/pools";
import { readParentLock, ParentLock } from "../images/parentLock";
import { unpinnedParentsError } from "./parentPins";

/**
 * What publishing does with one image:
 * - `build`: nothing with this content is published: build and push it;
 * - `retag`: another tag of the repository holds this content: copy its manifest to the tag;
 * - `unchanged`: the tag already holds this content: nothing to do;
 * - `conflict`: the tag holds different content (an error under immutableTags, else a rebuild).
 */
export type PublishAction = "build" | "retag" | "unchanged" | "conflict";

/** One image of the stack and what publishing will do with it. */
export interface PlannedImage {
    readonly spec: ImageSpec;
    /** `docker.io/baseten/truss-server-base` */
    readonly repository: string;
    /** `3.9-gpu-v0.2.2` */
    readonly tag: string;
    /** `docker.io/baseten/truss-server-base:3.9-gpu-v0.2.2` */
    readonly reference: string;
    /** The Pulumi resource name: stable for the same repository and tag. */
    readonly resourceName: string;
    readonly staged: StagedContext;
    readonly contentDigest: ContentDigest;
    readonly pool: Pool;
    readonly action: PublishAction;
    /** For `retag`: the reference whose manifest is copied. */
    readonly source?: string;
}

/** Which runner pool builds an image. */
export function poolFor(spec: ImageSpec, config: StackConfig): Pool {
    return poolOf(spec.accelerator, config.builders);
}

/**
 * Every image of the stack's matrix, staged and digested, in matrix order, with the parent pins
 * of the lock (by default images/parents.lock beside the catalog; no registry is asked). Under
 * `requirePinnedParents`, an unpinned parent is an error here, before anything is declared.
 */
export function planImages(config: StackConfig, catalog: Catalog, lock: ParentLock = readParentLock(catalog.imagesDir)): PlannedImage[] {
    const planned = expandMatrix(config.matrix).map((spec) => {
        const staged = stageImage(catalog, spec, config.parents, lock);
        const t = tag(spec, config.versionTag);
        return {
            spec,
            repository: repository(config.registry, spec.jobType),
            tag: t,
            reference: imageReference(config.registry, spec, config.versionTag),
            resourceName: `${repositoryName(spec.jobType)}-${t}`,
            staged,
            contentDigest: staged.contentDigest,
            pool: poolFor(spec, config),
            action: "build" as PublishAction,
        };
    });
    if (config.requirePinnedParents) {
        const error = unpinnedParentsError(planned);
        if (error) throw error;
    }
    return planned;
}

/**
 * For each image to build, the earlier image of the same parent and python it should wait for.
 * Such images share their first layers (the CUDA libraries, python, pip); built at the same time
 * on one daemon, each would build and push those layers again, since concurrent builds of one
 * step do not share a cache entry. The first image of each group builds at once; the rest
 * follow it and reuse its layers. Returns reference -> leader reference (absent for leaders).
 */
export function layerLeaders(images: readonly Pick<PlannedImage, "reference" | "spec" | "staged">[]): Map<string, string> {
    const leaders = new Map<string, string>();
    const followers = new Map<string, string>();
    for (const image of images) {
        const key = `${image.staged.parent}\n${image.spec.accelerator}\n${image.spec.python}`;
        const leader = leaders.get(key);
        if (leader === undefined) leaders.set(key, image.reference);
        else followers.set(image.reference, leader);
    }
    return followers;
}
