import * as pulumi from "@pulumi/pulumi";
import { dynamicProvider, implementedBy, TYPE_MODULE } from "./dynamicProvider";

export type { RegistryIndexInputs, RegistryIndexOutputs } from "./registryIndexProvider";

export interface RegistryIndexArgs {
    readonly server: pulumi.Input<string>;
    readonly username?: pulumi.Input<string>;
    /** A secret Output (made secret here in any case). */
    readonly password?: pulumi.Input<string>;
    readonly repository: pulumi.Input<string>;
    readonly tag: pulumi.Input<string>;
    /** The tag's content digest, covering every platform. */
    readonly contentDigest: pulumi.Input<string>;
    /** Each platform with its image's content digest. */
    readonly platforms: pulumi.Input<pulumi.Input<{ platform: pulumi.Input<string>; contentDigest: pulumi.Input<string> }>[]>;
    /** The images to index, for a build; empty for a re-tag or an unchanged tag. */
    readonly entries: pulumi.Input<pulumi.Input<{ platform: pulumi.Input<string>; digest: pulumi.Input<string> }>[]>;
    readonly source?: pulumi.Input<string>;
    readonly sourceDigest?: pulumi.Input<string>;
    readonly immutable: pulumi.Input<boolean>;
    readonly timeoutSeconds?: pulumi.Input<number>;
    /** Token-service hosts besides the registry's own that may receive its credentials (registry.tokenRealmHosts). */
    readonly tokenRealmHosts?: pulumi.Input<pulumi.Input<string>[]>;
}

/**
 * A published multi-platform tag: the OCI index of its platform images (their staging tags'
 * manifests), annotated with the tag's content digest and written by the same check-then-write
 * as RegistryTag (src/registry/publish.ts) once every image is in place; or, for a re-tag, a
 * copy of an older tag's index. Never deleted (registryIndexProvider.ts has no `delete`).
 */
export class RegistryIndex extends pulumi.dynamic.Resource {
    declare public readonly digest: pulumi.Output<string>;
    declare public readonly tag: pulumi.Output<string>;

    constructor(name: string, args: RegistryIndexArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            dynamicProvider(),
            name,
            implementedBy("RegistryIndex", {
                ...args,
                password: args.password === undefined ? undefined : pulumi.secret(args.password),
                digest: undefined,
            }),
            { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "password"] },
            TYPE_MODULE,
            "RegistryIndex",
        );
    }
}
