import type { ContentDigest } from "../images/spec";

/**
 * Staging tags: where a build pushes an image before anything is published. They live in the
 * image's own repository (so an index or a re-tag can reference their manifests without copying
 * blobs) under names outside the published tag format: published tags start with a python
 * version (`3.11-gpu-v0.13.0`), staging tags with `build-`, so no user and no re-tag lookup
 * (which only reads tags of its own variant) ever takes one for a base image.
 */
export const STAGING_PREFIX = "build-";
export const ESTARGZ_SUFFIX = "-estargz";

/** `build-<64 hex of the content digest>`: the image as the builder pushed it. */
export function stagingTag(contentDigest: ContentDigest): string {
    return `${STAGING_PREFIX}${contentDigest.slice("sha256:".length)}`;
}

/** `build-<64 hex>-estargz`: the same image converted to eStargz with OCI media types. */
export function estargzStagingTag(contentDigest: ContentDigest): string {
    return `${stagingTag(contentDigest)}${ESTARGZ_SUFFIX}`;
}

/** Whether a tag is a staging tag (for clean-up scripts and listings). */
export function isStagingTag(tag: string): boolean {
    return /^build-[a-f0-9]{64}(-estargz)?$/.test(tag);
}
