import type { Catalog } from "../images/catalog";
import type { StackConfig } from "../config/stackConfig";
import { stageImage, StagedContext } from "../images/context";
import type { ContentDigest, ImageSpec } from "../images/spec";
import { expandMatrix } from "../images/matrix";
import { imageReference, repository, repositoryName, tag } from "../images/naming";
import type { BuildersConfig } from "../config/runners";
import { poolOf, Pool } from "../runners/pools";
import { combinedContentDigest, platformsOf } from "../images/platforms";
import { estargzStagingTag, stagingTag } from "../images/naming";
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
    /**
     * One image per platform of `matrix.platforms`, in config order. With one platform it is the
     * image above; with more, the tag holds an OCI index of these and `contentDigest` is their
     * combined digest (src/images/platforms.ts).
     */
    readonly platforms: readonly PlatformImage[];
}

/** One platform's image of a tag. */
export interface PlatformImage {
    readonly platform: string;
    readonly staged: StagedContext;
    /** This platform's own content digest (its label), the platform and compression included. */
    readonly contentDigest: ContentDigest;
    /** The runner pool that builds it natively (`local`: the local daemon). */
    readonly pool: string;
    /** The tag its build pushes to, in the image's repository. */
    readonly stagingTag: string;
    /** The tag that holds what is published: the eStargz conversion, or the build itself. */
    readonly finalStagingTag: string;
}

/**
 * The runner pool that builds an image for a platform: by default poolOf's (linux/amd64 where it
 * always was, linux/arm64 on the arm64 pool); a parameter so that tests can place platforms.
 */
export type PlatformPoolFn = (spec: ImageSpec, platform: string, builders: BuildersConfig) => string;

export const defaultPlatformPool: PlatformPoolFn = (spec, platform, builders) => poolOf(spec.accelerator, builders, platform);

/** Which runner pool builds an image. */
export function poolFor(spec: ImageSpec, config: StackConfig): Pool {
    return poolOf(spec.accelerator, config.builders);
}

/**
 * Every image of the stack's matrix, staged and digested, in matrix order, each with one staged
 * image per platform, with the parent pins of the lock (by default images/parents.lock beside
 * the catalog; no registry is asked). Under `requirePinnedParents`, an unpinned parent is an
 * error here, before anything is declared.
 */
export function planImages(
    config: StackConfig,
    catalog: Catalog,
    lock: ParentLock = readParentLock(catalog.imagesDir),
    platformPool: PlatformPoolFn = defaultPlatformPool,
): PlannedImage[] {
    const compression = config.compression ?? "gzip";
    const planned = expandMatrix(config.matrix).map((spec) => {
        const platforms = platformsOf(config.matrix).map((platform): PlatformImage => {
            const staged = stageImage(catalog, spec, config.parents, lock, platform, compression);
            return {
                platform,
                staged,
                contentDigest: staged.contentDigest,
                pool: platformPool(spec, platform, config.builders),
                stagingTag: stagingTag(staged.contentDigest),
                finalStagingTag: compression === "estargz" ? estargzStagingTag(staged.contentDigest) : stagingTag(staged.contentDigest),
            };
        });
        const staged = platforms[0].staged;
        const t = tag(spec, config.versionTag);
        return {
            spec,
            repository: repository(config.registry, spec.jobType),
            tag: t,
            reference: imageReference(config.registry, spec, config.versionTag),
            resourceName: `${repositoryName(spec.jobType)}-${t}`,
            staged,
            contentDigest: combinedContentDigest(platforms),
            pool: poolFor(spec, config),
            action: "build" as PublishAction,
            platforms,
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
        // Per platform too: images of different platforms share no layers (and build on different daemons).
        const key = `${image.staged.parent}\n${image.spec.accelerator}\n${image.spec.python}\n${image.staged.platform}`;
        const leader = leaders.get(key);
        if (leader === undefined) leaders.set(key, image.reference);
        else followers.set(image.reference, leader);
    }
    return followers;
}
