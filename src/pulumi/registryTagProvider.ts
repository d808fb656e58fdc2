// The RegistryTag provider's implementation. The provider host loads it by name in the provider's process
// (providerImplementations.ts, dynamicProvider.ts), never serialized into the state, so it may import what it needs.
import * as pulumi from "@pulumi/pulumi";
import { conflictOf, providerRegistryClient, publishedTagDiff, readPublishedTag } from "./publishedTagLifecycle";
import { LABELS } from "../images/labels";
import { DEFAULT_PLATFORM, publishTag, TagHeldError } from "../registry";

/**
 * The provider's view of a RegistryTag: plain values (the engine unwraps secrets before a
 * dynamic provider sees them; the password stays secret in the state, see RegistryTag).
 */
export interface RegistryTagInputs {
    readonly server: string;
    readonly username?: string;
    readonly password?: string;
    /** Token-service hosts besides the registry's own that may receive its credentials (registry.tokenRealmHosts). */
    readonly tokenRealmHosts?: readonly string[];
    /** Fully qualified: `docker.io/baseten/truss-server-base`. */
    readonly repository: string;
    readonly tag: string;
    /** The content digest the tag must hold. */
    readonly contentDigest: string;
    /** Where the manifest comes from while the tag is absent: the build's staging tag, or a re-tag source. */
    readonly source?: string;
    /** The manifest digest the source must have (the pushed or planned digest). */
    readonly sourceDigest?: string;
    /** Whose image of an index carries the content label. */
    readonly platform?: string;
    /** Under immutableTags: a tag holding other content is never overwritten. */
    readonly immutable: boolean;
    /** The deadline of each registry look-up. */
    readonly timeoutSeconds?: number;
}

export interface RegistryTagOutputs extends RegistryTagInputs {
    /** `docker.io/baseten/truss-server-base:3.9-v0.2.3` */
    readonly reference: string;
    /** The manifest digest the tag holds. */
    readonly digest: string;
}

async function publish(inputs: RegistryTagInputs): Promise<RegistryTagOutputs> {
    const platform = inputs.platform ?? DEFAULT_PLATFORM;
    try {
        const { digest } = await publishTag(providerRegistryClient(inputs), {
            repository: inputs.repository,
            tag: inputs.tag,
            source: inputs.source,
            sourceDigest: inputs.sourceDigest,
            content: { key: LABELS.contentDigest, digest: inputs.contentDigest },
            platform,
            overwrite: !inputs.immutable,
        });
        return { ...inputs, reference: `${inputs.repository}:${inputs.tag}`, digest };
    } catch (e) {
        if (!(e instanceof TagHeldError)) throw e;
        throw conflictOf(e, inputs, platform);
    }
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * The published-tag provider. Its logic is src/registry's publishTag (tested against a real
 * registry); this object only maps Pulumi's lifecycle onto it:
 * - create/update: check the tag, then write it from the source (never overwrite other content
 *   under immutableTags);
 * - diff: from the inputs alone, no registry request: the plan that ran just before has read
 *   every tag, and a preview must not pay for it twice;
 * - read (refresh): what the registry serves now;
 * - delete: nothing. Published tags are never deleted by this program.
 */
export const registryTagProvider: pulumi.dynamic.ResourceProvider<RegistryTagInputs, RegistryTagOutputs> = {
    async check(_olds, news) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        for (const key of ["server", "repository", "tag"] as const) {
            if (typeof news[key] !== "string" || news[key] === "") failures.push({ property: key, reason: `${key} is required` });
        }
        if (typeof news.contentDigest !== "string" || !DIGEST.test(news.contentDigest)) {
            failures.push({
                property: "contentDigest",
                reason: `expected a content digest sha256:<64 hex>, got ${JSON.stringify(news.contentDigest)}`,
            });
        }
        // A build's digest is unknown until the push: nothing to check yet.
        if (news.sourceDigest !== undefined && news.sourceDigest !== pulumi.runtime.unknownValue && !DIGEST.test(news.sourceDigest)) {
            failures.push({
                property: "sourceDigest",
                reason: `expected a manifest digest sha256:<64 hex>, got ${JSON.stringify(news.sourceDigest)}`,
            });
        }
        return { inputs: news, failures };
    },

    async diff(_id, olds, news) {
        return publishedTagDiff(olds, news);
    },

    async create(inputs) {
        const outs = await publish(inputs);
        return { id: outs.reference, outs };
    },

    async update(_id, _olds, news) {
        return { outs: await publish(news) };
    },

    read: readPublishedTag,

    async delete() {
        // Never delete a published tag: dropping the resource only drops it from the state.
    },
};
