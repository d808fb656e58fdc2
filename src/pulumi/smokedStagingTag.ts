import * as pulumi from "@pulumi/pulumi";
import { dynamicProvider, implementedBy, TYPE_MODULE } from "./dynamicProvider";

export type { SmokedStagingTagInputs, SmokedStagingTagOutputs } from "./smokedStagingTagProvider";

export interface SmokedStagingTagArgs {
    readonly username?: pulumi.Input<string>;
    /** The registry password: made a secret here in any case. */
    readonly password?: pulumi.Input<string>;
    /** Fully qualified; its server is the registry's. */
    readonly repository: pulumi.Input<string>;
    /** The digest of the image that passed its smoke test (and conversion): what the smoked tag will hold. */
    readonly sourceDigest: pulumi.Input<string>;
    /** smokedStagingTag of the image's content digest. */
    readonly tag: pulumi.Input<string>;
    readonly timeoutSeconds?: pulumi.Input<number>;
    /** Token-service hosts besides the registry's own that may receive its credentials (registry.tokenRealmHosts). */
    readonly tokenRealmHosts?: pulumi.Input<pulumi.Input<string>[]>;
}

/**
 * The proof, in the registry, that a staged platform image passed its smoke test: its manifest
 * copied to `build-<hex>-smoked` once the smoke test (and the eStargz conversion) succeeded;
 * declare it depending on them. The next plan counts a platform image as staged only when this
 * tag holds it (src/publish/classifyIndex.ts, stagedPlatforms), so an image whose test failed is
 * tested again, however it was built.
 */
export class SmokedStagingTag extends pulumi.dynamic.Resource {
    // `declare`: the base constructor sets it; a class field would reset it to undefined.
    declare public readonly digest: pulumi.Output<string>;

    constructor(name: string, args: SmokedStagingTagArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            dynamicProvider(),
            name,
            implementedBy("SmokedStagingTag", {
                username: args.username,
                password: args.password === undefined ? undefined : pulumi.secret(args.password),
                repository: args.repository,
                sourceDigest: args.sourceDigest,
                tag: args.tag,
                timeoutSeconds: args.timeoutSeconds,
                tokenRealmHosts: args.tokenRealmHosts,
                digest: undefined,
            }),
            { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "password"] },
            TYPE_MODULE,
            "SmokedStagingTag",
        );
    }
}
