import type { RegistryClient } from "./client";
import { RegistryError } from "./registryError";
import { annotate } from "./content";
import { Descriptor, MEDIA_TYPES, parseManifest, sha256Digest } from "./manifest";
import { publishTag, PublishTagResult } from "./publish";
import { parseRepository } from "./reference";

/** One image of an index: the platform it is for and the digest of its manifest in the repository. */
export interface IndexEntry {
    /** `linux/amd64`, `linux/arm64` */
    readonly platform: string;
    /** The image's manifest digest; the manifest must be in the index's repository (its staging tag). */
    readonly digest: string;
}

/** The OCI index of a tag, before it is written. */
export interface BuiltIndex {
    readonly mediaType: string;
    readonly digest: string;
    readonly bytes: Buffer;
}

function platformObject(platform: string): { os: string; architecture: string; variant?: string } {
    const [os, architecture, variant] = platform.split("/");
    return { os, architecture, ...(variant ? { variant } : {}) };
}

/**
 * The OCI image index of some image manifests: compact JSON with a fixed key order and the
 * entries sorted by platform, so the same images always make the same bytes (and digest),
 * whichever order they were built or listed in.
 */
export function buildIndex(entries: readonly { readonly platform: string; readonly descriptor: Descriptor }[]): BuiltIndex {
    const manifests = [...entries]
        .sort((a, b) => (a.platform < b.platform ? -1 : a.platform > b.platform ? 1 : 0))
        .map((e) => ({
            mediaType: e.descriptor.mediaType,
            digest: e.descriptor.digest,
            size: e.descriptor.size,
            platform: platformObject(e.platform),
        }));
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests }));
    return { mediaType: MEDIA_TYPES.ociIndex, digest: sha256Digest(bytes), bytes };
}

/**
 * Reads each image manifest, checks that its config is for the platform it is listed under (a
 * build on a daemon of another architecture would otherwise be published as this one), and
 * builds the index.
 */
export async function indexOf(client: RegistryClient, repository: string, entries: readonly IndexEntry[]): Promise<BuiltIndex> {
    const descriptors = await Promise.all(
        entries.map(async (entry) => {
            const ctx = { registry: client.server, repository: parseRepository(repository).path, reference: entry.digest };
            const manifest = await client.getManifest(repository, entry.digest);
            if (!manifest || manifest.kind !== "image") {
                throw new RegistryError(
                    "not-found",
                    ctx,
                    `the ${entry.platform} image ${entry.digest} is ${manifest ? "an index, not an image" : "missing from the repository"}; run \`pulumi up\` again to rebuild it`,
                );
            }
            const config = await client.getImageConfig(repository, manifest);
            const [os, architecture] = entry.platform.split("/");
            if (config?.os !== os || config?.architecture !== architecture) {
                throw new RegistryError(
                    "malformed",
                    ctx,
                    `the image listed for ${entry.platform} is built for ${config?.os ?? "?"}/${config?.architecture ?? "?"}; ` +
                        `it must be built on a daemon of that architecture (or with emulation enabled there)`,
                );
            }
            const descriptor: Descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length };
            return { platform: entry.platform, descriptor };
        }),
    );
    return buildIndex(descriptors);
}

/**
 * Publishes the index of these images at a tag through publishTag, the one check-then-write of
 * published tags: the index is built, annotated with the tag's content digest (`content`, which
 * covers every platform), and written only if the tag is absent or already holds that content
 * (`overwrite`, for stacks without immutableTags, replaces other content). Returns the index
 * digest and whether it was written now.
 */
export async function publishIndex(
    client: RegistryClient,
    target: {
        readonly repository: string;
        readonly tag: string;
        readonly entries: readonly IndexEntry[];
        readonly content: { readonly key: string; readonly digest: string };
        readonly overwrite?: boolean;
    },
): Promise<PublishTagResult> {
    const built = await indexOf(client, target.repository, target.entries);
    const unannotated = parseManifest(built.bytes, built.mediaType);
    const manifest = parseManifest(annotate(unannotated, target.content.key, target.content.digest), built.mediaType);
    return publishTag(client, {
        repository: target.repository,
        tag: target.tag,
        manifest,
        content: target.content,
        platform: target.entries[0].platform,
        overwrite: target.overwrite ?? false,
    });
}
