import { ACCELERATORS } from "../images/dimensions";
import { UserError } from "../errors";
import type { ContentDigest, ImageSpec } from "../images/spec";
import { LABELS } from "../images/labels";
import { variant } from "../images/naming";
import type { Compression } from "../images/platforms";
import type { PublishAction } from "./plannedImages";
import { DEFAULT_PLATFORM, describeHeld, PublishedContent, readContent, RegistryClient } from "../registry";
import * as pep440 from "@renovatebot/pep440";
import { classifyIndexed, WantedPlatform } from "./classifyIndex";

/** What classify needs of a planned image (a PlannedImage has all of it). */
export interface ClassifyInput {
    /** `docker.io/baseten/truss-server-base` */
    readonly repository: string;
    /** `3.9-gpu-v0.2.2` */
    readonly tag: string;
    readonly contentDigest: ContentDigest;
    readonly spec: ImageSpec;
    /** The platform whose entry of an index holds the labels; linux/amd64 when absent. */
    readonly staged?: { readonly platform: string };
    /** With more than one, the tag must hold an index of exactly these (src/publish/classifyIndex.ts). */
    readonly platforms?: readonly WantedPlatform[];
}

/** What the registry says about one image. */
export interface Classification {
    readonly action: PublishAction;
    /** For `retag`: the full reference (`repository:tag`) whose manifest is copied. */
    readonly source?: string;
    /**
     * The manifest digest the tag has (`unchanged`, `conflict`) or will have after the copy
     * (`retag`: the source's). Undefined for `build`.
     */
    readonly digest?: string;
    /** For `conflict`: the content digest the published tag has; null when it has none. */
    readonly publishedContentDigest?: string | null;
    /** For `conflict` of a multi-platform tag: what differs, naming the platforms. */
    readonly conflictReason?: string;
    /** Multi-platform `build`/`conflict`: platform -> manifest digest of its finished image already staged. */
    readonly stagedDigests?: Readonly<Record<string, string>>;
    /** For `conflict`: whether the tag holds an image, an index, or an index without our platform. */
    readonly publishedShape?: PublishedContent["shape"];
}

export type Classified<T extends ClassifyInput> = Omit<T, keyof Classification> & Classification;

export interface ClassifyOptions {
    /**
     * How many other tags of the same variant, newest first, are examined for a re-tag source
     * (each costs a manifest and maybe a config request). Content identical to an older tag
     * than these is rebuilt, which is always safe. Default 5.
     */
    readonly lookback?: number;
    /** The tag list page size (`n`); the registry's default when unset. */
    readonly pageSize?: number;
    /**
     * The stack's compression: which staging tag proves a platform image passed its smoke test
     * (proofStagingTag in src/images/naming.ts), for the staged platforms of a multi-platform
     * tag. gzip when unset: an eStargz stack classified without it finds no proof and rebuilds.
     */
    readonly compression?: Compression;
}

export const DEFAULT_LOOKBACK = 5;

/**
 * Decides each image's action against what the registry publishes:
 * - `unchanged`: the tag exists and holds our content digest (its manifest's annotation, else
 *   its image's `truss.base.content-digest` label);
 * - `conflict`: the tag exists with another (or no) content digest;
 * - `retag`: the tag is absent, but another tag of the same repository and variant holds our
 *   content digest. The source is the newest such tag by version order (`v0.10.0` > `v0.9.1` >
 *   `v0.9.1rc0`; tags that are not versions come last, by name), so the choice is deterministic;
 * - `build`: nothing published holds our content.
 *
 * Every wanted tag is asked about itself (a manifest GET): whether it exists never depends on a
 * tag list, which may be stale, paginated or incomplete. The tag list is read only for an absent
 * tag, to find re-tag sources, once per repository and keeping only the variants' tags. Each
 * manifest and config blob is read once (the client caches them), at most the client's
 * concurrency in flight. The result is in input order.
 */
export async function classify<T extends ClassifyInput>(
    images: readonly T[],
    client: RegistryClient,
    opts: ClassifyOptions = {},
): Promise<Classified<T>[]> {
    const lookback = opts.lookback ?? DEFAULT_LOOKBACK;
    const compression = opts.compression ?? "gzip";
    const byRepository = new Map<string, T[]>();
    for (const image of images) {
        const list = byRepository.get(image.repository) ?? [];
        list.push(image);
        byRepository.set(image.repository, list);
    }
    const results = new Map<T, Classification>();
    await Promise.all(
        [...byRepository].map(async ([repository, repoImages]) => {
            const published = new Map<string, Promise<PublishedContent | undefined>>();
            const read = (tag: string, platform: string): Promise<PublishedContent | undefined> => {
                const key = `${platform} ${tag}`;
                let p = published.get(key);
                if (!p) {
                    p = readPublished(client, repository, tag, platform);
                    published.set(key, p);
                }
                return p;
            };
            let tagList: Promise<string[]> | undefined;
            const variants = repoImages.map((i) => `${variant(i.spec)}-`);
            const listTags = (): Promise<string[]> =>
                (tagList ??= client.listTags(repository, { pageSize: opts.pageSize, keep: (t) => variants.some((v) => t.startsWith(v)) }));
            await Promise.all(
                repoImages.map(async (image) => {
                    if (image.platforms && image.platforms.length > 1) {
                        const { platforms, tag, contentDigest } = image;
                        const candidates = async (): Promise<string[]> => retagCandidates(image, await listTags()).slice(0, lookback);
                        results.set(
                            image,
                            await classifyIndexed(client, { repository, tag, contentDigest, platforms }, candidates, compression),
                        );
                        return;
                    }
                    const platform = image.staged?.platform ?? DEFAULT_PLATFORM;
                    const current = await read(image.tag, platform);
                    if (current) {
                        results.set(
                            image,
                            current.contentDigest === image.contentDigest
                                ? { action: "unchanged", digest: current.digest }
                                : {
                                      action: "conflict",
                                      digest: current.digest,
                                      publishedContentDigest: current.contentDigest,
                                      publishedShape: current.shape,
                                  },
                        );
                        return;
                    }
                    for (const candidate of retagCandidates(image, await listTags()).slice(0, lookback)) {
                        const other = await read(candidate, platform);
                        if (other && other.contentDigest === image.contentDigest) {
                            results.set(image, { action: "retag", source: `${repository}:${candidate}`, digest: other.digest });
                            return;
                        }
                    }
                    results.set(image, { action: "build" });
                }),
            );
        }),
    );
    return images.map((image) => {
        const c = results.get(image) as Classification;
        const {
            action: _a,
            source: _s,
            digest: _d,
            publishedContentDigest: _p,
            conflictReason: _r,
            stagedDigests: _g,
            publishedShape: _h,
            ...rest
        } = image as T & Partial<Classification>;
        return { ...rest, ...c } as Classified<T>;
    });
}

async function readPublished(
    client: RegistryClient,
    repository: string,
    tag: string,
    platform: string,
): Promise<PublishedContent | undefined> {
    const manifest = await client.getManifest(repository, tag);
    return manifest && readContent(client, repository, manifest, LABELS.contentDigest, platform);
}

/**
 * The other tags of the repository that belong to the image's variant (`3.9-gpu-<version>`),
 * newest version first. `3.9-gpu-reload-v1` is not a `3.9-gpu` tag: the longest variant that
 * prefixes a tag owns it.
 */
export function retagCandidates(image: Pick<ClassifyInput, "spec" | "tag">, tags: readonly string[]): string[] {
    const own = variant(image.spec);
    const siblings = ACCELERATORS.flatMap((accelerator) =>
        [false, true].map((liveReload) => variant({ ...image.spec, accelerator, liveReload })),
    );
    const owner = (tag: string): string | undefined =>
        siblings.filter((v) => tag.startsWith(`${v}-`)).sort((a, b) => b.length - a.length)[0];
    return tags
        .filter((t) => t !== image.tag && owner(t) === own)
        .sort((a, b) => compareVersions(b.slice(own.length + 1), a.slice(own.length + 1)) || (a < b ? 1 : a > b ? -1 : 0));
}

function byName(a: string, b: string): number {
    return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Orders version tags oldest to newest by PEP 440 (Truss's versions are Python package
 * versions): `v0.9.1rc0` < `v0.9.1` < `v0.9.1.post1` < `v0.10.0`. Tags that are not versions
 * sort before all versions, by name.
 */
export function compareVersions(a: string, b: string): number {
    const va = pep440.valid(a) !== null;
    const vb = pep440.valid(b) !== null;
    if (va && vb) return pep440.compare(a, b) || byName(a, b);
    if (va !== vb) return va ? 1 : -1;
    return byName(a, b);
}

/** Whether publishing builds the image: `build`, and `conflict` when tags may be overwritten. */
export function needsBuild(image: Pick<Classification, "action">): boolean {
    return image.action === "build" || image.action === "conflict";
}

/** How many images get each action: the plan's summary line. */
export function countActions(images: readonly Pick<Classification, "action">[]): Record<PublishAction, number> {
    const counts: Record<PublishAction, number> = { build: 0, retag: 0, unchanged: 0, conflict: 0 };
    for (const i of images) counts[i.action]++;
    return counts;
}

/** Published tags whose content differs from the stack's, under immutableTags. */
export class TagConflictError extends UserError {
    constructor(
        readonly conflicts: readonly {
            reference: string;
            published: string | null;
            shape?: PublishedContent["shape"];
            planned: string;
            digest?: string;
            platform?: string;
            /** A multi-platform tag: what differs, naming the platforms. */
            reason?: string;
        }[],
    ) {
        super(
            `${conflicts.length} tag${conflicts.length === 1 ? " is" : "s are"} already published with different content, and immutableTags is on; ` +
                `nothing was built, pushed or re-tagged:\n` +
                conflicts
                    .map(
                        (c) =>
                            `  - ${c.reference}: ` +
                            (c.reason
                                ? `${c.reason} (manifest ${c.digest})`
                                : `the registry holds ` +
                                  describeHeld(
                                      { contentDigest: c.published, shape: c.shape ?? "image" },
                                      LABELS.contentDigest,
                                      c.platform ?? DEFAULT_PLATFORM,
                                  ) +
                                  (c.digest ? ` (manifest ${c.digest})` : "") +
                                  `; this stack would publish content digest ${c.planned}`),
                    )
                    .join("\n") +
                `\nPublished tags are never overwritten. Bump versionTag (\`pulumi config set versionTag <new version>\`) to publish this content under new tags.`,
        );
    }
}

/** One error listing every conflicting tag (for stacks with immutableTags), or undefined when there is none. */
export function immutableTagConflicts(images: readonly Classified<ClassifyInput>[]): TagConflictError | undefined {
    const conflicts = images
        .filter((i) => i.action === "conflict")
        .map((i) => ({
            reference: `${i.repository}:${i.tag}`,
            published: i.publishedContentDigest ?? null,
            shape: i.publishedShape,
            platform: i.staged?.platform,
            planned: i.contentDigest,
            digest: i.digest,
            ...(i.conflictReason ? { reason: i.conflictReason } : {}),
        }));
    return conflicts.length > 0 ? new TagConflictError(conflicts) : undefined;
}
