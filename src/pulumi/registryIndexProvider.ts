// The RegistryIndex provider's implementation. The provider host loads it by name in the provider's process
// (providerImplementations.ts, dynamicProvider.ts), never serialized into the state, so it may import what it needs.
import type * as pulumi from "@pulumi/pulumi";
import { conflictOf, providerRegistryClient, publishedTagDiff, readPublishedTag } from "./publishedTagLifecycle";
import { LABELS } from "../images/labels";
import type { ContentDigest } from "../images/spec";
import { compareManifest } from "../publish/classifyIndex";
import { publishIndex, publishTag, TagHeldError } from "../registry";

/** The provider's view of a RegistryIndex: plain values (the password stays a secret in the state). */
export interface RegistryIndexInputs {
    readonly server: string;
    readonly username?: string;
    readonly password?: string;
    /** Token-service hosts besides the registry's own that may receive its credentials (registry.tokenRealmHosts). */
    readonly tokenRealmHosts?: readonly string[];
    /** Fully qualified: `docker.io/baseten/truss-server-base`. */
    readonly repository: string;
    readonly tag: string;
    /** The tag's content digest, covering every platform: the index's annotation. */
    readonly contentDigest: string;
    /** The platforms of the index, in the stack's order, each with its image's content digest. */
    readonly platforms: { readonly platform: string; readonly contentDigest: string }[];
    /** The images to index (platform, manifest digest in the repository); empty for a re-tag or an unchanged tag. */
    readonly entries: { readonly platform: string; readonly digest: string }[];
    /** For a re-tag: the reference in the same repository whose index is copied. */
    readonly source?: string;
    /** For a re-tag: the index digest the source must have. */
    readonly sourceDigest?: string;
    /** Under immutableTags: a tag holding other content is never overwritten. */
    readonly immutable: boolean;
    /** The deadline of each registry look-up (registryTimeoutSeconds). */
    readonly timeoutSeconds?: number;
}

export interface RegistryIndexOutputs extends RegistryIndexInputs {
    /** The index digest the tag holds. */
    readonly digest: string;
}

/** Writes the index of the entries, or copies the re-tag source, or checks the tag: all through publishTag. */
async function publish(inputs: RegistryIndexInputs): Promise<string> {
    const client = providerRegistryClient(inputs);
    const content = { key: LABELS.contentDigest, digest: inputs.contentDigest };
    const overwrite = !inputs.immutable;
    try {
        if (inputs.entries.length > 0) {
            return (
                await publishIndex(client, { repository: inputs.repository, tag: inputs.tag, entries: inputs.entries, content, overwrite })
            ).digest;
        }
        const wanted = inputs.platforms.map((p) => ({ ...p, contentDigest: p.contentDigest as ContentDigest }));
        const { digest } = await publishTag(client, {
            repository: inputs.repository,
            tag: inputs.tag,
            source: inputs.source,
            sourceDigest: inputs.sourceDigest,
            content,
            holds: async (m) =>
                (await compareManifest(client, inputs.repository, m, inputs.contentDigest as ContentDigest, wanted)).matches,
            platform: inputs.platforms[0].platform,
            overwrite,
        });
        return digest;
    } catch (e) {
        if (!(e instanceof TagHeldError)) throw e;
        throw conflictOf(e, inputs, inputs.platforms[0].platform);
    }
}

/**
 * The index provider, mapping Pulumi's lifecycle onto publishIndex/publishTag:
 * - create/update: check the tag, then write the index (or copy the re-tag source);
 * - diff: from the inputs alone, like RegistryTag: the tag's content digest covers every
 *   platform's, so a tag built in one update and `unchanged` in the next shows no change, and
 *   a preview asks the registry nothing here;
 * - read (refresh): what the registry serves now;
 * - delete: none. Published tags are never deleted by this program.
 */
export const registryIndexProvider: pulumi.dynamic.ResourceProvider<RegistryIndexInputs, RegistryIndexOutputs> = {
    async diff(_id, olds, news) {
        return publishedTagDiff(olds, news);
    },
    async create(inputs) {
        const digest = await publish(inputs);
        return { id: `${inputs.repository}:${inputs.tag}`, outs: { ...inputs, digest } };
    },
    async update(_id, _olds, news) {
        return { outs: { ...news, digest: await publish(news) } };
    },
    read: readPublishedTag,
};
