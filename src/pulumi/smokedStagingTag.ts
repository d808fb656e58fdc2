import * as pulumi from "@pulumi/pulumi";
import { dynamicProvider, implementedBy, TYPE_MODULE } from "./dynamicProvider";

export type { SmokedStagingTagInputs, SmokedStagingTagOutputs } from "./smokedStagingTagProvider";

export interface SmokedStagingTagArgs {
    readonly username?: pulumi.Input<string>;
    /** The registry password: made a secret here in any case. */
    readonly password?: pulumi.Input<string>;
    /** Fully qualified; its server is the registry's. */
    readonly repository: pulumi.Input<string>;
    /** The digest of the image that passed its smoke test: what the smoked tag will hold. */
    readonly sourceDigest: pulumi.Input<string>;
    /** smokedStagingTag of the image's content digest. */
    readonly tag: pulumi.Input<string>;
    readonly timeoutSeconds?: pulumi.Input<number>;
    /** Token-service hosts besides the registry's own that may receive its credentials (registry.tokenRealmHosts). */
    readonly tokenRealmHosts?: pulumi.Input<pulumi.Input<string>[]>;
}

/**
 * The proof, in the registry, that a staged gzip platform image passed its smoke test: its
 * manifest copied to `build-<hex>-smoked` once the smoke test succeeded; declare it depending on
 * it. The next plan of a gzip stack counts a platform image as staged only when this tag holds it
 * (src/publish/classifyIndex.ts, stagedPlatforms), so an image whose test failed is tested again,
 * however it was built. eStargz stacks declare none: their proof is the converted image's
 * `build-<hex>-estargz`, written only after the smoke test (proofStagingTag in
 * src/images/naming.ts). Declared with retainOnDelete, so one dropped from a stack (as an
 * eStargz stack's are, since) leaves its tag in the registry.
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
