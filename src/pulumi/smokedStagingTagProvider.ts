// The SmokedStagingTag provider's implementation. The provider host loads it by name in the provider's process
// (providerImplementations.ts, dynamicProvider.ts), never serialized into the state, so it may import what it needs.
import type * as pulumi from "@pulumi/pulumi";
import { providerRegistryClient } from "./publishedTagLifecycle";
import { parseRepository, retryDelayMs } from "../registry";

/** The provider's view of a SmokedStagingTag: plain values (the password stays a secret in the state). */
export interface SmokedStagingTagInputs {
    readonly username?: string;
    readonly password?: string;
    /** Token-service hosts besides the registry's own that may receive its credentials (registry.tokenRealmHosts). */
    readonly tokenRealmHosts?: readonly string[];
    /** Fully qualified: `docker.io/baseten/truss-server-base` (its server is the registry's). */
    readonly repository: string;
    /** The manifest digest of the finished image that passed (pushed, or converted): copied by digest. */
    readonly sourceDigest: string;
    /** `build-<hex>-smoked` */
    readonly tag: string;
    readonly timeoutSeconds?: number;
}

export interface SmokedStagingTagOutputs extends SmokedStagingTagInputs {
    /** The manifest digest under the smoked tag: the source's. */
    readonly digest: string;
}

async function mark(inputs: SmokedStagingTagInputs): Promise<SmokedStagingTagOutputs> {
    const client = providerRegistryClient({ ...inputs, server: parseRepository(inputs.repository).server });
    // By digest: exactly the manifest that passed, whatever its staging tag holds by now.
    const source = await client.readSource(inputs.repository, inputs.sourceDigest);
    // A staging tag, never a published one: the same manifest bytes (so the same digest), and a
    // failed write may simply be sent again.
    for (let attempt = 1; ; attempt++) {
        const write = await client.writeManifest(inputs.repository, inputs.tag, source.bytes, source.mediaType);
        if (write.ok) return { ...inputs, digest: write.digest };
        if (!write.retryable || attempt >= client.retry.attempts) throw write.error;
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs(client.retry, attempt, write.reply)));
    }
}

/**
 * The smoked tag's provider: create writes it (the image passed); a new digest replaces it
 * (written again for the new image); nothing else changes it, and delete leaves it in the
 * registry, like every staging tag.
 */
export const smokedStagingTagImplementation: pulumi.dynamic.ResourceProvider<SmokedStagingTagInputs, SmokedStagingTagOutputs> = {
    async diff(_id, olds, news) {
        const replaces = (["repository", "sourceDigest", "tag"] as const).filter((k) => olds[k] !== news[k]);
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
    async create(inputs) {
        const outs = await mark(inputs);
        return { id: `${inputs.repository}:${inputs.tag}`, outs };
    },
    async delete() {
        // Staging tags stay in the registry (README, "Cleaning up staging tags").
    },
};
