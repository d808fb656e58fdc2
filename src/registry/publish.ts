import { RegistryClient, retryDelayMs } from "./client";
import { Manifest, sha256Digest } from "./manifest";
import { annotate, PublishedContent, readContent } from "./content";
import { RegistryError } from "./registryError";
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
 * digest as an annotation, so a later look-up needs the manifest alone.
 *
 * The Registry API has no conditional write, so two writers of one tag can both find it absent.
 * What this does about that:
 * - the check reads with the push scope and every byte of the write is ready before it, so only
 *   the PUT itself stands between check and write (no token request, no queue of our own);
 * - a failed PUT (429, 5xx, no answer) is never repeated blindly: the tag is read again first,
 *   and the write stops with the conflict when it holds other content by then (another writer
 *   published it), or is done when it holds ours (the failed PUT was stored after all); a PUT
 *   the registry refuses (an immutable tag) is not repeated, and the tag is read to tell why;
 * - after the write, the tag is read back, and once more after the client's `writeSettleMs`:
 *   it must still hold our manifest, else the other writer's PUT landed after ours and this
 *   write reports the conflict (the other writer won), never "written".
 * A PUT of another writer that takes longer than `writeSettleMs` to land can still overwrite the
 * tag unseen: for a hard guarantee, one registry has one writer per tag at a time, or makes its
 * published tags immutable (README, "Published tags and concurrent writers").
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
    const bytes = source && annotate(source, content.key, content.digest);
    const ours = bytes && sha256Digest(bytes);
    const policy = client.retry;
    let failed: RegistryError | undefined;
    let refused = false;
    for (let attempt = 1; ; attempt++) {
        // The check, right before the write (and before every retry of it).
        const current = await client.getManifest(repository, tag, { push: true });
        if (current) {
            if (current.digest === ours && failed) return confirm(client, request, ours);
            const held = await readContent(client, repository, current, content.key, platform);
            if (held.contentDigest === content.digest || (await request.holds?.(current)))
                return { digest: current.digest, written: false };
            if (!request.overwrite) {
                throw tagHeld(
                    client,
                    request,
                    held,
                    failed
                        ? `another writer published it while our write was failing (${failed.context.status !== undefined ? `HTTP ${failed.context.status}` : failed.kind}); our write was not repeated, and nothing was written.`
                        : "published tags are never overwritten, and nothing was written.",
                );
            }
        }
        if (!source || !bytes) {
            throw client.error(
                "not-found",
                repository,
                tag,
                `the tag is missing and there is nothing to copy it from (it was published before); run the preview again, which plans a build or a re-tag for it.`,
            );
        }
        if (failed && (refused || attempt > policy.attempts)) throw failed;
        const write = await client.writeManifest(repository, tag, bytes, source.mediaType);
        if (write.ok) return confirm(client, request, write.digest);
        failed = write.error;
        // A refusal (e.g. a registry rule making the tag immutable) is not asked again, but the
        // tag is still read once more: another writer's content there is the conflict to report.
        refused = !write.retryable;
        if (!refused && attempt < policy.attempts) await sleep(retryDelayMs(policy, attempt, write.reply));
    }
}

/**
 * After our write: the tag must serve our manifest now and still after the client's
 * writeSettleMs, or another writer's PUT landed after ours.
 */
async function confirm(client: RegistryClient, request: PublishTagRequest, digest: string): Promise<PublishTagResult> {
    const { repository, tag } = request;
    for (const wait of [0, client.writeSettleMs]) {
        if (wait > 0) await sleep(wait);
        const after = await client.headManifest(repository, tag);
        if (after?.digest === digest) continue;
        const current = after && (await client.getManifest(repository, tag, { push: true }));
        if (!current) {
            throw client.error(
                "digest-mismatch",
                repository,
                tag,
                `after writing ${digest} the registry serves no such tag; check the registry and run the update again.`,
            );
        }
        const held = await readContent(client, repository, current, request.content.key, request.platform);
        if (held.contentDigest === request.content.digest || (await request.holds?.(current))) {
            return { digest: current.digest, written: false };
        }
        const race = `another writer published the tag at the same time as we did: we wrote ${digest}, and theirs was stored after ours`;
        if (request.overwrite) {
            throw client.error(
                "digest-mismatch",
                repository,
                tag,
                `${race} (it holds ${describeHeld(held, request.content.key, request.platform)}, manifest ${held.digest}); run the update again.`,
            );
        }
        throw tagHeld(client, request, held, `${race}. One registry takes one writer per tag at a time; nothing more was written.`);
    }
    return { digest, written: true };
}

/** The conflict: what the tag holds, against what we would publish, and `then` (what happened, what was written). */
function tagHeld(client: RegistryClient, request: PublishTagRequest, held: PublishedContent, then: string): TagHeldError {
    const path = parseRepository(request.repository).path;
    const { content, platform, tag } = request;
    return new TagHeldError(
        `registry ${client.server}, repository ${path}, tag ${tag}: the tag already holds ${describeHeld(held, content.key, platform)} (manifest ${held.digest}), not content digest ${content.digest}; ${then}`,
        { registry: client.server, repository: path, reference: tag, ...(client.user ? { user: client.user } : {}) },
        held,
    );
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** `content digest sha256:...`, `an image without a <key> label`, `an index without a linux/amd64 image`. */
export function describeHeld(held: Pick<PublishedContent, "contentDigest" | "shape">, key: string, platform: string): string {
    if (held.contentDigest) return `content digest ${held.contentDigest}`;
    if (held.shape === "index-without-platform") return `an index without a ${platform} image`;
    return held.shape === "index" ? `an index whose ${platform} image has no ${key} label` : `an image without a ${key} label`;
}
