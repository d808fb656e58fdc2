import type { RegistryClient } from "./client";
import { RegistryError } from "./errors";
import { imageRef, parseRepository } from "./reference";

/** A tag that must hold a manifest digest, copied from `source` if absent. */
export interface TagTarget {
    /** Fully qualified: `docker.io/baseten/truss-server-base`. */
    readonly repository: string;
    readonly tag: string;
    /** The manifest digest the tag must have. */
    readonly digest: string;
    /** Where to copy the manifest from when the tag is absent: a tag, a digest, or a full reference in the same repository. */
    readonly source?: string;
}

/** What the registry serves under a tag, compared with the digest it should have. */
export type TagStatus =
    { readonly state: "present" } | { readonly state: "missing" } | { readonly state: "different"; readonly digest: string };

/** Whether a tag is served at a digest (one HEAD request). */
export async function tagStatus(client: RegistryClient, repository: string, tag: string, digest: string): Promise<TagStatus> {
    const head = await client.headManifest(repository, tag);
    if (!head) return { state: "missing" };
    return head.digest === digest ? { state: "present" } : { state: "different", digest: head.digest };
}

/**
 * Makes a tag hold a digest: nothing to do when it already does, a copy of `source` when it is
 * absent, and an error when it holds something else (a published tag is never overwritten).
 * After a copy, the registry is asked again to prove it serves the tag at the digest.
 */
export async function ensureTag(client: RegistryClient, target: TagTarget): Promise<{ digest: string; copied: boolean }> {
    const { repository, tag, digest, source } = target;
    const ctx = {
        registry: client.server,
        repository: parseRepository(repository).path,
        reference: tag,
        ...(client.user ? { user: client.user } : {}),
    };
    const where = `registry ${client.server}, repository ${ctx.repository}, tag ${tag}`;
    const before = await tagStatus(client, repository, tag, digest);
    if (before.state === "present") return { digest, copied: false };
    if (before.state === "different") {
        throw new RegistryError(
            "tag-exists",
            ctx,
            `${where}: the tag already holds ${before.digest}, not ${digest}; published tags are never overwritten. Run the preview again (the registry changed since the plan), or bump versionTag.`,
        );
    }
    if (!source) {
        throw new RegistryError(
            "not-found",
            ctx,
            `${where}: the tag is missing and there is nothing to copy it from; run \`pulumi up\` again to rebuild it.`,
        );
    }
    await client.copyTag(repository, source, tag, { expectedDigest: digest });
    const after = await tagStatus(client, repository, tag, digest);
    if (after.state !== "present") {
        throw new RegistryError(
            "digest-mismatch",
            ctx,
            `${where}: after copying ${source.includes("/") ? source : imageRef(repository, source)} the registry serves ${after.state === "missing" ? "no such tag" : after.digest}, not ${digest}.`,
        );
    }
    return { digest, copied: true };
}
