import * as pulumi from "@pulumi/pulumi";
import { dynamicProvider, implementedBy, TYPE_MODULE } from "./dynamicProvider";

export type { RegistryTagInputs, RegistryTagOutputs } from "./registryTagProvider";

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
    /** The content digest the tag must hold. */
    readonly contentDigest: pulumi.Input<string>;
    /** Where the manifest comes from while the tag is absent: the build's staging tag or classify's re-tag source. */
    readonly source?: pulumi.Input<string>;
    /** The manifest digest the source must have. */
    readonly sourceDigest?: pulumi.Input<string>;
    /** The platform whose image of an index carries the content label (linux/amd64 when absent). */
    readonly platform?: pulumi.Input<string>;
    /** immutableTags: a tag holding other content is never overwritten. */
    readonly immutable: pulumi.Input<boolean>;
    /** The deadline of each registry look-up (registryTimeoutSeconds). */
    readonly timeoutSeconds?: pulumi.Input<number>;
    /** Token-service hosts besides the registry's own that may receive its credentials (registry.tokenRealmHosts). */
    readonly tokenRealmHosts?: pulumi.Input<pulumi.Input<string>[]>;
}

/**
 * The tokenRealmHosts input of the resources that write to the registry: present only when the
 * stack names some, so that stacks without the key store nothing new.
 */
export function tokenRealmHostsOf(config: { readonly registry: { readonly tokenRealmHosts?: readonly string[] } }): {
    tokenRealmHosts?: string[];
} {
    const hosts = config.registry.tokenRealmHosts;
    return hosts && hosts.length > 0 ? { tokenRealmHosts: [...hosts] } : {};
}

/**
 * A published tag that holds known content. It is the only writer of published tags: right
 * before writing it checks that the tag is absent or already holds the content, then copies
 * the source's manifest (a build's staging tag, or another tag for a re-tag) to it. Never
 * deleted (registryTagProvider.ts's `delete` does nothing). The password is a secret input
 * and a secret output.
 */
export class RegistryTag extends pulumi.dynamic.Resource {
    // `declare`: the base constructor sets these; a class field would reset them to undefined.
    declare public readonly reference: pulumi.Output<string>;
    declare public readonly repository: pulumi.Output<string>;
    declare public readonly tag: pulumi.Output<string>;
    declare public readonly contentDigest: pulumi.Output<string>;
    /** The manifest digest the tag holds. */
    declare public readonly digest: pulumi.Output<string>;
    declare public readonly source: pulumi.Output<string | undefined>;

    constructor(name: string, args: RegistryTagArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            dynamicProvider(),
            name,
            implementedBy("RegistryTag", {
                server: args.server,
                username: args.username,
                password: args.password === undefined ? undefined : pulumi.secret(args.password),
                repository: args.repository,
                tag: args.tag,
                contentDigest: args.contentDigest,
                source: args.source,
                sourceDigest: args.sourceDigest,
                platform: args.platform,
                immutable: args.immutable,
                timeoutSeconds: args.timeoutSeconds,
                tokenRealmHosts: args.tokenRealmHosts,
                reference: undefined,
                digest: undefined,
            }),
            { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "password"] },
            TYPE_MODULE,
            "RegistryTag",
        );
    }
}
