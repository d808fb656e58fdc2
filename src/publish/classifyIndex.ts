import { LABELS } from "../images/labels";
import { proofStagingTag } from "../images/naming";
import { Compression, platformName } from "../images/platforms";
import type { ContentDigest } from "../images/spec";
import { Manifest, manifestAnnotation, MEDIA_TYPES, RegistryClient } from "../registry";

/** What classification needs of each platform's image of a tag. */
export interface WantedPlatform {
    readonly platform: string;
    readonly contentDigest: ContentDigest;
}

/** How a published manifest compares with the index a tag should hold. */
export type IndexComparison =
    { readonly matches: true; readonly digest: string } | { readonly matches: false; readonly digest: string; readonly reason: string };

const IMAGE_MANIFESTS: readonly string[] = [MEDIA_TYPES.dockerManifest, MEDIA_TYPES.ociManifest];

/**
 * Compares what `reference` holds with the tag's content digest and wanted platforms. It
 * matches when it is an index annotated with that content digest (which covers every
 * platform's, as this program writes them): one manifest request. Otherwise its images are
 * read (see compareManifest), and the reason names every platform that differs. Undefined
 * when the reference does not exist.
 */
export async function compareIndex(
    client: RegistryClient,
    repository: string,
    reference: string,
    contentDigest: ContentDigest,
    wanted: readonly WantedPlatform[],
): Promise<IndexComparison | undefined> {
    const manifest = await client.getManifest(repository, reference);
    return manifest && compareManifest(client, repository, manifest, contentDigest, wanted);
}

/**
 * compareIndex of a manifest already read. Besides our own annotation, an index that another
 * tool wrote matches when it holds exactly the wanted platforms (attestation entries aside),
 * each image labelled with its platform's content digest.
 */
export async function compareManifest(
    client: RegistryClient,
    repository: string,
    manifest: Manifest,
    contentDigest: ContentDigest,
    wanted: readonly WantedPlatform[],
): Promise<IndexComparison> {
    const annotation = manifestAnnotation(manifest, LABELS.contentDigest);
    if (manifest.kind === "index" && annotation === contentDigest) return { matches: true, digest: manifest.digest };
    const names = wanted.map((w) => w.platform).join(", ");
    if (manifest.kind === "image") {
        const config = await client.getImageConfig(repository, manifest);
        const label = config?.labels[LABELS.contentDigest];
        return {
            matches: false,
            digest: manifest.digest,
            reason:
                `it holds a single-platform image (${config?.os ?? "?"}/${config?.architecture ?? "?"}, ` +
                `${label ? `content digest ${label}` : `no ${LABELS.contentDigest} label`}) where an index of ${names} is wanted`,
        };
    }
    const entries = new Map<string, string>();
    for (const m of manifest.manifests) {
        if (!m.platform || m.platform.os === "unknown" || !IMAGE_MANIFESTS.includes(m.mediaType)) continue;
        entries.set(platformName(m.platform), m.digest);
    }
    const reasons: string[] = [];
    const extra = [...entries.keys()].filter((p) => !wanted.some((w) => w.platform === p));
    for (const w of wanted) {
        const digest = entries.get(w.platform);
        if (!digest) {
            reasons.push(`its index has no ${w.platform} image`);
            continue;
        }
        const child = await client.getManifest(repository, digest);
        const config = child?.kind === "image" ? await client.getImageConfig(repository, child) : undefined;
        const label = config?.labels[LABELS.contentDigest];
        if (label !== w.contentDigest) {
            reasons.push(
                `its ${w.platform} image has ${label ? `content digest ${label}` : `no ${LABELS.contentDigest} label`}, ` +
                    `this stack's ${w.platform} image has ${w.contentDigest}`,
            );
        }
    }
    if (extra.length > 0) reasons.push(`its index holds ${extra.join(", ")}, which this stack does not publish (it publishes ${names})`);
    // Every image is ours, but the index is annotated with other content.
    if (reasons.length === 0 && annotation !== undefined)
        reasons.push(`its index carries content digest ${annotation}, not ${contentDigest}`);
    return reasons.length === 0
        ? { matches: true, digest: manifest.digest }
        : { matches: false, digest: manifest.digest, reason: reasons.join("; ") };
}

/**
 * The manifest digest of each platform whose finished image passed its smoke test (and, with
 * eStargz, its conversion): the image under its proof staging tag (proofStagingTag of the
 * stack's compression: `build-<hex>-smoked` for gzip, `build-<hex>-estargz` for eStargz, each
 * written only after the test passed), with the right content digest label. A later `up`
 * publishes it without building or testing it again (after a partial failure, only the missing
 * platforms are built). No other staging tag counts: the gzip `build-<hex>` is pushed before the
 * test, so its image may have failed it. Each proof tag is asked about itself, like every
 * wanted tag.
 */
export async function stagedPlatforms(
    client: RegistryClient,
    repository: string,
    wanted: readonly WantedPlatform[],
    compression: Compression,
): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    await Promise.all(
        wanted.map(async (w) => {
            const manifest = await client.getManifest(repository, proofStagingTag(w.contentDigest, compression));
            if (manifest?.kind !== "image") return;
            const config = await client.getImageConfig(repository, manifest);
            if (config?.labels[LABELS.contentDigest] === w.contentDigest) out[w.platform] = manifest.digest;
        }),
    );
    return out;
}

/** What classify decides for a tag that holds one image per platform (see classify). */
export interface IndexClassification {
    readonly action: "build" | "retag" | "unchanged" | "conflict";
    readonly source?: string;
    readonly digest?: string;
    readonly publishedContentDigest?: string | null;
    /** For `conflict`: what differs, naming the platforms. */
    readonly conflictReason?: string;
    /** Platform -> manifest digest of the finished image already in its staging tag. */
    readonly stagedDigests?: Readonly<Record<string, string>>;
}

/**
 * Classifies a multi-platform tag: `unchanged` when it holds the wanted index, `conflict` when
 * it holds anything else (another platform set, an image with other content, a single image),
 * `retag` when one of the candidates (newest first, read only when the tag is absent) holds a
 * matching index, else `build`, with the platforms whose images are already staged (proven by
 * the staging tag of the stack's `compression`, see stagedPlatforms). The tag itself is always
 * asked about (a manifest GET), never looked up in a tag list.
 */
export async function classifyIndexed(
    client: RegistryClient,
    image: {
        readonly repository: string;
        readonly tag: string;
        readonly contentDigest: ContentDigest;
        readonly platforms: readonly WantedPlatform[];
    },
    candidates: () => Promise<readonly string[]>,
    compression: Compression,
): Promise<IndexClassification> {
    const { repository, contentDigest } = image;
    const staged = async (): Promise<Readonly<Record<string, string>>> => stagedPlatforms(client, repository, image.platforms, compression);
    const current = await compareIndex(client, repository, image.tag, contentDigest, image.platforms);
    if (current?.matches) return { action: "unchanged", digest: current.digest };
    if (current) {
        return {
            action: "conflict",
            digest: current.digest,
            publishedContentDigest: null,
            conflictReason: current.reason,
            stagedDigests: await staged(),
        };
    }
    for (const candidate of await candidates()) {
        const other = await compareIndex(client, repository, candidate, contentDigest, image.platforms);
        if (other?.matches) return { action: "retag", source: `${repository}:${candidate}`, digest: other.digest };
    }
    return { action: "build", stagedDigests: await staged() };
}
