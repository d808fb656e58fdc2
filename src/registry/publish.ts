import type { RegistryClient } from "./client";
import type { Manifest } from "./manifest";
import { annotate, PublishedContent, readContent } from "./content";
import { RegistryError } from "./errors";
import { parseRepository } from "./reference";

/** Writing a published tag: which content it must hold, and where that content is now. */
export interface PublishTagRequest {
    /** Fully qualified: `docker.io/baseten/truss-server-base`. */
    readonly repository: string;
    readonly tag: string;
    /**
     * Where the manifest is copied from: a tag, digest or full reference in the same repository
     * (a staging tag, or an older tag for a re-tag). Absent: the tag must already hold the content.
     */
    readonly source?: string;
    /**
     * Instead of `source`: a manifest that is in no tag yet (an index of staged images, built by
     * imageIndex.ts); everything it references must already be in the repository.
     */
    readonly manifest?: Manifest;
    /** The manifest digest the source must have, when known (a build's pushed digest, a re-tag source's planned digest). */
    readonly sourceDigest?: string;
    /** The content the tag must hold: annotation/label `key` with value `digest`. */
    readonly content: { readonly key: string; readonly digest: string };
    /**
     * Another way a manifest may hold the content, besides its annotation or label: an index
     * another tool wrote whose every platform image carries its own content digest (see
     * src/publish/classifyIndex.ts). Asked only when the annotation and label do not match.
     */
    readonly holds?: (manifest: Manifest) => Promise<boolean>;
    /** The platform whose image of an index carries the label. */
    readonly platform: string;
    /** Whether a tag holding other content may be overwritten (false under immutableTags). */
    readonly overwrite: boolean;
}

export interface PublishTagResult {
    /** The manifest digest the tag holds now. */
    readonly digest: string;
    /** False when the tag already held the content: nothing was written. */
    readonly written: boolean;
}

/** A published tag holds other content and may not be overwritten. */
export class TagHeldError extends RegistryError {
    constructor(
        message: string,
        context: RegistryError["context"],
        readonly published: PublishedContent,
    ) {
        super("tag-exists", context, message);
        this.name = "TagHeldError";
    }
}

/**
 * The only way this project writes a published tag. Right before the write it reads the tag:
 * already our content, nothing to do; other content, a TagHeldError unless `overwrite`; absent,
 * the source's manifest (checked to hold our content) is written under the tag with the content
 * digest as an annotation, so a later look-up needs the manifest alone. The registry is asked
 * once more afterwards to prove it serves the tag at the written digest.
 */
export async function publishTag(client: RegistryClient, request: PublishTagRequest): Promise<PublishTagResult> {
    const { repository, tag, content, platform } = request;
    const source =
        request.manifest ??
        (request.source === undefined ? undefined : await client.readSource(repository, request.source, request.sourceDigest));
    if (source) {
        const sourceContent = await readContent(client, repository, source, content.key, platform);
        if (sourceContent.contentDigest !== content.digest && !(await request.holds?.(source))) {
            throw client.error(
                "digest-mismatch",
                repository,
                tag,
                `the source ${request.source ?? source.digest} holds ${describeHeld(sourceContent, content.key, platform)}, not content digest ${content.digest}; nothing was written. Run the preview again.`,
            );
        }
    }
    // The check, right before the write.
    const current = await client.getManifest(repository, tag);
    if (current) {
        const held = await readContent(client, repository, current, content.key, platform);
        if (held.contentDigest === content.digest || (await request.holds?.(current))) return { digest: current.digest, written: false };
        if (!request.overwrite) {
            const path = parseRepository(repository).path;
            throw new TagHeldError(
                `registry ${client.server}, repository ${path}, tag ${tag}: the tag already holds ${describeHeld(held, content.key, platform)} (manifest ${held.digest}), not content digest ${content.digest}; published tags are never overwritten, and nothing was written.`,
                { registry: client.server, repository: path, reference: tag, ...(client.user ? { user: client.user } : {}) },
                held,
            );
        }
    }
    if (!source) {
        throw client.error(
            "not-found",
            repository,
            tag,
            `the tag is missing and there is nothing to copy it from (it was published before); run the preview again, which plans a build or a re-tag for it.`,
        );
    }
    const bytes = annotate(source, content.key, content.digest);
    const digest = await client.putManifest(repository, tag, bytes, source.mediaType);
    const after = await client.headManifest(repository, tag);
    if (after?.digest !== digest) {
        throw client.error(
            "digest-mismatch",
            repository,
            tag,
            `after writing ${digest} the registry serves ${after ? after.digest : "no such tag"}; check the registry and run the update again.`,
        );
    }
    return { digest, written: true };
}

/** `content digest sha256:...`, `an image without a <key> label`, `an index without a linux/amd64 image`. */
export function describeHeld(held: Pick<PublishedContent, "contentDigest" | "shape">, key: string, platform: string): string {
    if (held.contentDigest) return `content digest ${held.contentDigest}`;
    if (held.shape === "index-without-platform") return `an index without a ${platform} image`;
    return held.shape === "index" ? `an index whose ${platform} image has no ${key} label` : `an image without a ${key} label`;
}
