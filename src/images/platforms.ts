import { createHash } from "crypto";
import type { ContentDigest } from "./spec";

/**
 * The platforms an image can be built for. Each needs a base image that publishes it (the CUDA
 * and python parents do for both) and, on EC2, a runner pool of its architecture.
 */
export const PLATFORMS: readonly string[] = ["linux/amd64", "linux/arm64"];
/** What a stack publishes when `matrix.platforms` is absent: the single-platform images of before. */
export const DEFAULT_PLATFORMS: readonly string[] = ["linux/amd64"];

/** How published layers are compressed: `gzip` as the Docker daemon pushes them, or eStargz for lazy pulling. */
export const COMPRESSIONS = ["gzip", "estargz"] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** The platforms of a matrix, in config order. */
export function platformsOf(matrix: { readonly platforms?: readonly string[] }): readonly string[] {
    return matrix.platforms && matrix.platforms.length > 0 ? matrix.platforms : DEFAULT_PLATFORMS;
}

/** `linux/arm64` -> `arm64`: the architecture a runner must have to build natively. */
export function architectureOf(platform: string): string {
    return platform.split("/")[1] ?? platform;
}

/**
 * The platform of an index entry or image config as we name it: `os/architecture`, plus the
 * variant except `v8` of arm64, which is the only arm64 there is for our images (buildx and
 * containerd write it, the classic builder does not).
 */
export function platformName(p: { readonly os: string; readonly architecture: string; readonly variant?: string }): string {
    const variant = p.variant && !(p.architecture === "arm64" && p.variant === "v8") ? `/${p.variant}` : "";
    return `${p.os}/${p.architecture}${variant}`;
}

const INDEX_DIGEST_FORMAT = "truss-base-images index content digest v1";

/**
 * The content digest of a tag that holds one image per platform: sha256 over a canonical text
 * of the format and, per platform sorted by name, `platform <name> <its content digest>`. The
 * order of `matrix.platforms` does not matter. With one platform the tag holds that image as
 * before, and its content digest is the image's own.
 */
export function combinedContentDigest(platforms: readonly { readonly platform: string; readonly contentDigest: ContentDigest }[]): ContentDigest {
    if (platforms.length === 1) return platforms[0].contentDigest;
    const lines = [INDEX_DIGEST_FORMAT];
    for (const p of [...platforms].sort((a, b) => (a.platform < b.platform ? -1 : a.platform > b.platform ? 1 : 0))) {
        lines.push(`platform ${p.platform} ${p.contentDigest}`);
    }
    return `sha256:${createHash("sha256")
        .update(lines.join("\n") + "\n")
        .digest("hex")}`;
}
