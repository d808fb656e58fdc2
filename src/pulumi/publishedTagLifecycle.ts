// What the providers that write published tags (RegistryTag, RegistryIndex) share in the
// provider's process: their registry clients, their diff, their refresh and their conflict.
import type * as pulumi from "@pulumi/pulumi";
import { TagConflictError } from "../publish/classify";
import { PROGRAM_PASSWORD_FROM } from "../publish/publishPlan";
import { RegistryClient, tagStatus, TagHeldError } from "../registry";

/** What a published tag's inputs say about reaching the registry and what the tag must hold. */
export interface PublishedTagInputs {
    readonly server: string;
    readonly username?: string;
    readonly password?: string;
    readonly timeoutSeconds?: number;
    /** Token-service hosts besides the registry's own that may receive its credentials (registry.tokenRealmHosts). */
    readonly tokenRealmHosts?: readonly string[];
    readonly repository: string;
    readonly tag: string;
    readonly contentDigest: string;
    readonly immutable: boolean;
}

const clients = new Map<string, RegistryClient>();

/** One client per registry, user and deadline, so that every resource of an update shares its tokens and manifests. */
export function providerRegistryClient(
    inputs: Pick<PublishedTagInputs, "server" | "username" | "password" | "timeoutSeconds" | "tokenRealmHosts">,
): RegistryClient {
    const key = JSON.stringify([inputs.server, inputs.username, inputs.password, inputs.timeoutSeconds, inputs.tokenRealmHosts]);
    let client = clients.get(key);
    if (!client) {
        const credentials = inputs.username && inputs.password ? { username: inputs.username, password: inputs.password } : undefined;
        client = new RegistryClient({
            server: inputs.server,
            credentials,
            credentialsSource: { configuredUser: inputs.username, passwordFrom: PROGRAM_PASSWORD_FROM },
            timeoutSeconds: inputs.timeoutSeconds,
            tokenRealmHosts: inputs.tokenRealmHosts,
        });
        clients.set(key, client);
    }
    return client;
}

/** Properties whose change means another tag or other content: a new write, never an overwrite. */
const IDENTITY: readonly (keyof PublishedTagInputs)[] = ["server", "repository", "tag", "contentDigest"];
/**
 * Properties that say how to reach the registry or what may be overwritten: a change is an
 * update (checked again). Where the manifest comes from is in neither list: it matters only
 * while the tag is absent, so a tag built once and `unchanged` afterwards shows no change.
 */
const ACCESS: readonly (keyof PublishedTagInputs)[] = ["username", "password", "immutable"];

/** The diff, from the inputs alone: the plan that ran just before has read every tag, and a preview must not pay for it twice. */
export function publishedTagDiff(olds: PublishedTagInputs, news: PublishedTagInputs): pulumi.dynamic.DiffResult {
    const replaces: string[] = IDENTITY.filter((k) => olds[k] !== news[k]);
    const changes = replaces.length > 0 || ACCESS.some((k) => olds[k] !== news[k]);
    return { changes, replaces, deleteBeforeReplace: false };
}

/** A refresh: what the registry serves at the tag now (gone, the same digest, or another). */
export async function readPublishedTag<P extends PublishedTagInputs & { readonly digest: string }>(
    id: string,
    props: P | undefined,
): Promise<pulumi.dynamic.ReadResult<P>> {
    if (!props) return { id, props };
    const status = await tagStatus(providerRegistryClient(props), props.repository, props.tag, props.digest);
    if (status.state === "missing") return { id: "" };
    return { id, props: status.state === "present" ? props : { ...props, digest: status.digest } };
}

/** A tag that appeared with other content since the plan: the plan's own conflict message. */
export function conflictOf(e: TagHeldError, inputs: PublishedTagInputs, platform: string): TagConflictError {
    return new TagConflictError([
        {
            reference: `${inputs.repository}:${inputs.tag}`,
            published: e.published.contentDigest,
            shape: e.published.shape,
            planned: inputs.contentDigest,
            digest: e.published.digest,
            platform,
        },
    ]);
}
