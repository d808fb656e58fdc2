import * as pulumi from "@pulumi/pulumi";
import { ensureTag, RegistryClient, tagStatus } from "../registry";

/**
 * The provider's view of a RegistryTag: plain values (the engine unwraps secrets before a
 * dynamic provider sees them; the password stays secret in the state, see RegistryTag).
 */
export interface RegistryTagInputs {
    readonly server: string;
    readonly username?: string;
    readonly password?: string;
    /** Fully qualified: `docker.io/baseten/truss-server-base`. */
    readonly repository: string;
    readonly tag: string;
    /** The manifest digest the tag must hold. */
    readonly digest: string;
    /** Full reference (or tag) in the same repository to copy from while the tag is absent. */
    readonly source?: string;
}

export interface RegistryTagOutputs extends RegistryTagInputs {
    /** `docker.io/baseten/truss-server-base:3.9-v0.2.3` */
    readonly reference: string;
}

/** A registry client for a resource's inputs; anonymous without a username. */
function clientFor(inputs: RegistryTagInputs): RegistryClient {
    const credentials = inputs.username && inputs.password ? { username: inputs.username, password: inputs.password } : undefined;
    return new RegistryClient({ server: inputs.server, credentials });
}

function outputsOf(inputs: RegistryTagInputs): RegistryTagOutputs {
    return { ...inputs, reference: `${inputs.repository}:${inputs.tag}` };
}

/** Properties whose change means another tag or other content: a new copy, never an overwrite. */
const IDENTITY: readonly (keyof RegistryTagInputs)[] = ["server", "repository", "tag", "digest"];
/**
 * Properties that only say how to reach the registry: a change is an update (re-verified).
 * `source` is in neither list: it matters only while the tag is absent, so a tag that was
 * re-tagged once and is `unchanged` afterwards (declared without a source) shows no change.
 */
const ACCESS: readonly (keyof RegistryTagInputs)[] = ["username", "password"];
/** How the engine passes a value that is unknown during a preview (@pulumi/pulumi's runtime/rpc unknownValue). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/**
 * The re-tag provider. Its logic is src/registry's ensureTag and tagStatus (tested against
 * a real registry); this object only maps Pulumi's lifecycle onto them:
 * - create/update: make the tag hold the digest (copy from the source if absent; never overwrite);
 * - diff: a replacement when the tag or digest changed, or when the registry no longer serves
 *   the tag at the digest, so a preview shows a deleted or overwritten tag;
 * - read (refresh): what the registry serves now;
 * - delete: nothing. Published tags are never deleted by this program.
 */
export const registryTagProvider: pulumi.dynamic.ResourceProvider<RegistryTagInputs, RegistryTagOutputs> = {
    async check(_olds, news) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        for (const key of ["server", "repository", "tag"] as const) {
            if (typeof news[key] !== "string" || news[key] === "") failures.push({ property: key, reason: `${key} is required` });
        }
        // A digest from a build is unknown until the push: nothing to check yet.
        if (news.digest !== UNKNOWN && (typeof news.digest !== "string" || !/^sha256:[a-f0-9]{64}$/.test(news.digest))) {
            failures.push({ property: "digest", reason: `expected a manifest digest sha256:<64 hex>, got ${JSON.stringify(news.digest)}` });
        }
        return { inputs: news, failures };
    },

    async diff(_id, olds, news) {
        const replaces: string[] = IDENTITY.filter((k) => olds[k] !== news[k]);
        const unknown = [...IDENTITY, ...ACCESS].some((k) => news[k] === UNKNOWN);
        if (replaces.length === 0 && !unknown) {
            const status = await tagStatus(clientFor(news), news.repository, news.tag, news.digest);
            if (status.state !== "present") replaces.push("digest");
        }
        const changes = replaces.length > 0 || ACCESS.some((k) => olds[k] !== news[k]);
        return { changes, replaces, deleteBeforeReplace: false };
    },

    async create(inputs) {
        await ensureTag(clientFor(inputs), inputs);
        return { id: `${inputs.repository}:${inputs.tag}`, outs: outputsOf(inputs) };
    },

    async update(_id, _olds, news) {
        await ensureTag(clientFor(news), news);
        return { outs: outputsOf(news) };
    },

    async read(id, props) {
        if (!props) return { id, props };
        const status = await tagStatus(clientFor(props), props.repository, props.tag, props.digest);
        if (status.state === "missing") return { id: "" };
        return { id, props: status.state === "present" ? props : { ...props, digest: status.digest } };
    },

    async delete() {
        // Never delete a published tag: dropping the resource only drops it from the state.
    },
};

export interface RegistryTagArgs {
    /** The registry server as configured, e.g. `docker.io` or `localhost:5000`. */
    readonly server: pulumi.Input<string>;
    readonly username?: pulumi.Input<string>;
    /** The registry password: a secret Output (it is made secret here in any case). */
    readonly password?: pulumi.Input<string>;
    /** Fully qualified repository, e.g. `docker.io/baseten/truss-server-base`. */
    readonly repository: pulumi.Input<string>;
    /** The tag to publish, e.g. `3.9-v0.2.3`. */
    readonly tag: pulumi.Input<string>;
    /** The manifest digest the tag must hold (the source's, from classify). */
    readonly digest: pulumi.Input<string>;
    /** The full reference to copy from while the tag is absent (classify's `source`). */
    readonly source?: pulumi.Input<string>;
}

/**
 * A published tag that holds a known manifest digest: created by copying the manifest of
 * another tag of the same repository (the `retag` action), checked against the registry on
 * every preview, never deleted. The password is a secret input and a secret output.
 */
export class RegistryTag extends pulumi.dynamic.Resource {
    // `declare`: the base constructor sets these; a class field would reset them to undefined.
    declare public readonly reference: pulumi.Output<string>;
    declare public readonly repository: pulumi.Output<string>;
    declare public readonly tag: pulumi.Output<string>;
    declare public readonly digest: pulumi.Output<string>;
    declare public readonly source: pulumi.Output<string | undefined>;

    constructor(name: string, args: RegistryTagArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            registryTagProvider,
            name,
            {
                server: args.server,
                username: args.username,
                password: args.password === undefined ? undefined : pulumi.secret(args.password),
                repository: args.repository,
                tag: args.tag,
                digest: args.digest,
                source: args.source,
                reference: undefined,
            },
            { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "password"] },
            "truss-base-images",
            "RegistryTag",
        );
    }
}
