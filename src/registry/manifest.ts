import { createHash } from "crypto";

/** The manifest media types this client reads and copies. Schema 1 is long deprecated and refused. */
export const MEDIA_TYPES = {
    dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
    dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
    ociManifest: "application/vnd.oci.image.manifest.v1+json",
    ociIndex: "application/vnd.oci.image.index.v1+json",
    dockerConfig: "application/vnd.docker.container.image.v1+json",
    ociConfig: "application/vnd.oci.image.config.v1+json",
} as const;

const IMAGE_MANIFESTS: readonly string[] = [MEDIA_TYPES.dockerManifest, MEDIA_TYPES.ociManifest];
const INDEXES: readonly string[] = [MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociIndex];

/** The Accept header of manifest requests: every type above, so the registry never down-converts. */
export const MANIFEST_ACCEPT = [
    MEDIA_TYPES.ociIndex,
    MEDIA_TYPES.dockerManifestList,
    MEDIA_TYPES.ociManifest,
    MEDIA_TYPES.dockerManifest,
].join(", ");

/** A content descriptor: what a manifest points at. */
export interface Descriptor {
    readonly mediaType: string;
    readonly digest: string;
    readonly size: number;
    readonly platform?: { readonly os: string; readonly architecture: string; readonly variant?: string };
}

interface ManifestBase {
    /** The media type the registry served it as (the Content-Type), which a copy must keep. */
    readonly mediaType: string;
    /** sha256 of `bytes`: the manifest digest. */
    readonly digest: string;
    /** Exactly the bytes the registry served: a copy PUTs these, never a re-serialization. */
    readonly bytes: Buffer;
}

/** A single-platform image: its config blob holds the labels. */
export interface ImageManifest extends ManifestBase {
    readonly kind: "image";
    readonly config: Descriptor;
    readonly layers: readonly Descriptor[];
}

/** A manifest list or OCI index: one image manifest per platform (plus attestations). */
export interface ImageIndex extends ManifestBase {
    readonly kind: "index";
    readonly manifests: readonly Descriptor[];
}

export type Manifest = ImageManifest | ImageIndex;

/** The parts of an image config blob this project reads. */
export interface ImageConfig {
    readonly labels: Readonly<Record<string, string>>;
    readonly os?: string;
    readonly architecture?: string;
    readonly created?: string;
}

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(bytes: Uint8Array): string {
    return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Why bytes could not be understood; the client wraps it into a RegistryError that says where. */
export class MalformedError extends Error {}

/**
 * A short field of an answer (a media type) for a message: printable ASCII, at most 80
 * characters. Bodies themselves are never quoted: a registry's answer is not ours to repeat.
 */
export function shownField(value: string): string {
    const printable = value.replace(/[^\x20-\x7e]/g, "?");
    return JSON.stringify(printable.length > 80 ? `${printable.slice(0, 77)}...` : printable);
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
    let value: unknown;
    try {
        value = JSON.parse(bytes.toString("utf8"));
    } catch {
        // JSON.parse's message quotes the text: only the size is said.
        throw new MalformedError(`${what} is not valid JSON (${bytes.length} bytes; the content is not shown)`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new MalformedError(`${what} is not a JSON object`);
    return value as Record<string, unknown>;
}

function descriptor(value: unknown, what: string): Descriptor {
    const d = value as Record<string, unknown> | null;
    if (!d || typeof d !== "object" || typeof d.digest !== "string" || typeof d.mediaType !== "string" || typeof d.size !== "number") {
        throw new MalformedError(`${what} is not a descriptor with mediaType, digest and size`);
    }
    const p = d.platform as Record<string, unknown> | undefined;
    const platform =
        p && typeof p.os === "string" && typeof p.architecture === "string"
            ? { os: p.os, architecture: p.architecture, ...(typeof p.variant === "string" ? { variant: p.variant } : {}) }
            : undefined;
    return { mediaType: d.mediaType, digest: d.digest, size: d.size, ...(platform ? { platform } : {}) };
}

/**
 * Parses manifest bytes. The media type is the Content-Type the registry sent, else the body's
 * `mediaType` (OCI manifests may omit it; then the shape decides).
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): Manifest {
    const body = parseJson(bytes, "the manifest");
    const header = contentType?.split(";")[0].trim().toLowerCase();
    const declared = typeof body.mediaType === "string" ? body.mediaType : undefined;
    let mediaType = header && (IMAGE_MANIFESTS.includes(header) || INDEXES.includes(header)) ? header : declared;
    if (!mediaType) mediaType = Array.isArray(body.manifests) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest;
    const digest = sha256Digest(bytes);
    if (body.schemaVersion !== 2) {
        throw new MalformedError(
            `the manifest has schemaVersion ${typeof body.schemaVersion === "number" ? body.schemaVersion : `of type ${body.schemaVersion === null ? "null" : typeof body.schemaVersion}`}; only schema 2 (Docker v2 and OCI) is supported`,
        );
    }
    if (INDEXES.includes(mediaType)) {
        if (!Array.isArray(body.manifests)) throw new MalformedError(`the index has no "manifests" list`);
        return { kind: "index", mediaType, digest, bytes, manifests: body.manifests.map((m, i) => descriptor(m, `manifests[${i}]`)) };
    }
    if (IMAGE_MANIFESTS.includes(mediaType)) {
        const layers = Array.isArray(body.layers) ? body.layers.map((l, i) => descriptor(l, `layers[${i}]`)) : [];
        return { kind: "image", mediaType, digest, bytes, config: descriptor(body.config, "config"), layers };
    }
    throw new MalformedError(`the manifest has media type ${shownField(mediaType)}, which is neither an image manifest nor an index`);
}

/**
 * The entry of an index for a platform such as `linux/amd64` (or `linux/arm64/v8`); attestation
 * entries (`unknown/unknown`) never match. An amd64 entry without a variant matches `linux/amd64`.
 */
export function selectPlatform(index: ImageIndex, platform: string): Descriptor | undefined {
    const [os, architecture, variant] = platform.split("/");
    return index.manifests.find(
        (m) =>
            m.platform !== undefined &&
            m.platform.os === os &&
            m.platform.architecture === architecture &&
            (variant === undefined || m.platform.variant === variant) &&
            IMAGE_MANIFESTS.includes(m.mediaType),
    );
}

/** Parses an image config blob; labels live in `config.Labels`. */
export function parseImageConfig(bytes: Buffer): ImageConfig {
    const body = parseJson(bytes, "the image config");
    const config = (body.config ?? {}) as Record<string, unknown>;
    const raw = (config.Labels ?? {}) as Record<string, unknown>;
    if (typeof raw !== "object" || Array.isArray(raw)) throw new MalformedError(`the image config's config.Labels is not an object`);
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw ?? {})) if (typeof v === "string") labels[k] = v;
    return {
        labels,
        ...(typeof body.os === "string" ? { os: body.os } : {}),
        ...(typeof body.architecture === "string" ? { architecture: body.architecture } : {}),
        ...(typeof body.created === "string" ? { created: body.created } : {}),
    };
}
