import type { RegistryClient } from "./client";

/** What the registry serves under a tag, compared with the digest it should have. */
export type TagStatus =
    { readonly state: "present" } | { readonly state: "missing" } | { readonly state: "different"; readonly digest: string };

/** Whether a tag is served at a digest (one HEAD request). */
export async function tagStatus(client: RegistryClient, repository: string, tag: string, digest: string): Promise<TagStatus> {
    const head = await client.headManifest(repository, tag);
    if (!head) return { state: "missing" };
    return head.digest === digest ? { state: "present" } : { state: "different", digest: head.digest };
}
