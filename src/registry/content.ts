import type { RegistryClient } from "./client";
import type { Manifest } from "./manifest";

/**
 * What a published manifest says its content is. Our own publishing writes the content digest
 * as an annotation of the manifest itself, so one manifest request answers; a manifest written
 * by anyone else is read through its image config's label of the same name.
 */
export interface PublishedContent {
    /** The manifest digest the tag holds. */
    readonly digest: string;
    /** The content digest, or null when the image carries none. */
    readonly contentDigest: string | null;
    /** What the tag holds: an image, an index, or an index without an image for the platform. */
    readonly shape: "image" | "index" | "index-without-platform";
}

/** The manifest's own annotation `key`, if it has one. */
export function manifestAnnotation(manifest: Manifest, key: string): string | undefined {
    try {
        const body = JSON.parse(manifest.bytes.toString("utf8")) as { annotations?: Record<string, unknown> };
        const value = body.annotations?.[key];
        return typeof value === "string" ? value : undefined;
    } catch {
        return undefined;
    }
}

/** The content a manifest carries under `key`: its annotation, else its `platform` image's config label. */
export async function readContent(
    client: RegistryClient,
    repository: string,
    manifest: Manifest,
    key: string,
    platform: string,
): Promise<PublishedContent> {
    const annotated = manifestAnnotation(manifest, key);
    if (annotated !== undefined) return { digest: manifest.digest, contentDigest: annotated, shape: manifest.kind };
    const config = await client.getImageConfig(repository, manifest, platform);
    if (!config) return { digest: manifest.digest, contentDigest: null, shape: "index-without-platform" };
    return { digest: manifest.digest, contentDigest: config.labels[key] ?? null, shape: manifest.kind };
}

/**
 * The manifest's bytes with the annotation `key: value` added (the bytes themselves when it
 * already has it). An OCI manifest or index may carry annotations; Docker's v2 formats ignore
 * fields they do not define, and registries store and serve the bytes as written.
 */
export function annotate(manifest: Manifest, key: string, value: string): Buffer {
    if (manifestAnnotation(manifest, key) === value) return manifest.bytes;
    const body = JSON.parse(manifest.bytes.toString("utf8")) as Record<string, unknown>;
    const annotations = { ...((body.annotations as Record<string, string> | undefined) ?? {}), [key]: value };
    return Buffer.from(JSON.stringify({ ...body, annotations }), "utf8");
}
