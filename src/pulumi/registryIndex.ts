import * as pulumi from "@pulumi/pulumi";
import { ensureTag, publishIndex, RegistryClient, tagStatus } from "../registry";

/** The provider's view of a RegistryIndex: plain values (the password stays a secret in the state). */
export interface RegistryIndexInputs {
    readonly server: string;
    readonly username?: string;
    readonly password?: string;
    /** Fully qualified: `docker.io/baseten/truss-server-base`. */
    readonly repository: string;
    readonly tag: string;
    /** The images to index (platform, manifest digest in the repository); empty for a copy or a check. */
    readonly entries: { readonly platform: string; readonly digest: string }[];
    /** For a re-tag: the reference in the same repository whose index is copied. */
    readonly source?: string;
    /** For a re-tag or an unchanged tag: the index digest the tag must hold. */
    readonly expectedDigest?: string;
    /** Replace other content at the tag (stacks without immutableTags); never otherwise. */
    readonly overwrite?: boolean;
}

export interface RegistryIndexOutputs extends RegistryIndexInputs {
    /** The index digest the tag holds. */
    readonly digest: string;
}

function clientFor(inputs: RegistryIndexInputs): RegistryClient {
    const credentials = inputs.username && inputs.password ? { username: inputs.username, password: inputs.password } : undefined;
    return new RegistryClient({ server: inputs.server, credentials });
}

/** Writes (or copies, or checks) the tag; the registry code refuses to overwrite other content. */
async function publish(inputs: RegistryIndexInputs): Promise<string> {
    const client = clientFor(inputs);
    if (inputs.entries.length > 0) return (await publishIndex(client, inputs)).digest;
    if (!inputs.expectedDigest) throw new Error(`${inputs.repository}:${inputs.tag}: neither images to index nor a digest to check`);
    if (inputs.overwrite && inputs.source) {
        return (await client.copyTag(inputs.repository, inputs.source, inputs.tag, { expectedDigest: inputs.expectedDigest })).digest;
    }
    return (await ensureTag(client, { ...inputs, digest: inputs.expectedDigest })).digest;
}

/**
 * The index provider: create writes the tag once (absent, or already exactly this index);
 * diff replaces when the tag moves, when a build brings new images, when a copy or check expects
 * another digest than the tag got, or when the registry no longer serves the tag at its digest.
 * A tag built in one update and `unchanged` in the next (declared with its digest and no images)
 * shows no change. Delete does nothing: published tags are never deleted by this program.
 */
export const registryIndexProvider: pulumi.dynamic.ResourceProvider<RegistryIndexInputs, RegistryIndexOutputs> = {
    async diff(_id, olds, news) {
        const replaces: string[] = (["server", "repository", "tag"] as const).filter((k) => olds[k] !== news[k]);
        if (news.entries.length > 0 && JSON.stringify(news.entries) !== JSON.stringify(olds.entries)) replaces.push("entries");
        if (news.expectedDigest !== undefined && news.expectedDigest !== olds.digest) replaces.push("expectedDigest");
        if (replaces.length === 0 && olds.digest) {
            const status = await tagStatus(clientFor(news), news.repository, news.tag, olds.digest);
            if (status.state !== "present") replaces.push("digest");
        }
        const changes = replaces.length > 0 || olds.username !== news.username || olds.password !== news.password;
        return { changes, replaces, deleteBeforeReplace: false };
    },
    async create(inputs) {
        const digest = await publish(inputs);
        return { id: `${inputs.repository}:${inputs.tag}`, outs: { ...inputs, digest } };
    },
    async update(_id, _olds, news) {
        return { outs: { ...news, digest: await publish(news) } };
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

export interface RegistryIndexArgs {
    readonly server: pulumi.Input<string>;
    readonly username?: pulumi.Input<string>;
    /** A secret Output (made secret here in any case). */
    readonly password?: pulumi.Input<string>;
    readonly repository: pulumi.Input<string>;
    readonly tag: pulumi.Input<string>;
    readonly entries: pulumi.Input<pulumi.Input<{ platform: pulumi.Input<string>; digest: pulumi.Input<string> }>[]>;
    readonly source?: pulumi.Input<string>;
    readonly expectedDigest?: pulumi.Input<string>;
    readonly overwrite?: pulumi.Input<boolean>;
}

/**
 * A published multi-platform tag: the OCI index of its platform images (their staging tags'
 * manifests), written only after every image is in place and the tag is checked to be absent
 * or ours; or, for a re-tag, a copy of an older tag's index.
 */
export class RegistryIndex extends pulumi.dynamic.Resource {
    declare public readonly digest: pulumi.Output<string>;
    declare public readonly tag: pulumi.Output<string>;

    constructor(name: string, args: RegistryIndexArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            registryIndexProvider,
            name,
            { ...args, password: args.password === undefined ? undefined : pulumi.secret(args.password), digest: undefined },
            { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "password"] },
            "truss-base-images",
            "RegistryIndex",
        );
    }
}
