import * as pulumi from "@pulumi/pulumi";
import type { SshAccess } from "../runners/ssh";
import { dynamicProvider, implementedBy, TYPE_MODULE } from "./dynamicProvider";

export type { EstargzImageInputs, EstargzImageOutputs } from "./estargzImageProvider";

export interface EstargzImageArgs {
    readonly source: pulumi.Input<string>;
    readonly sourceDigest: pulumi.Input<string>;
    readonly target: pulumi.Input<string>;
    readonly platform: pulumi.Input<string>;
    /** The build's Docker endpoint over ssh (a runner); this machine when absent. */
    readonly endpoint?: pulumi.Input<{ host: pulumi.Input<string>; ssh?: SshAccess }>;
    readonly plainHttp: pulumi.Input<boolean>;
    readonly sudo: pulumi.Input<boolean>;
    readonly username?: pulumi.Input<string>;
    /** A secret Output (made secret here in any case). */
    readonly password?: pulumi.Input<string>;
}

/** One platform image converted to eStargz with OCI media types, pushed to its `-estargz` staging tag. */
export class EstargzImage extends pulumi.dynamic.Resource {
    declare public readonly digest: pulumi.Output<string>;
    declare public readonly target: pulumi.Output<string>;

    constructor(name: string, args: EstargzImageArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            dynamicProvider(),
            name,
            implementedBy("EstargzImage", {
                ...args,
                password: args.password === undefined ? undefined : pulumi.secret(args.password),
                digest: undefined,
            }),
            { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "password"] },
            TYPE_MODULE,
            "EstargzImage",
        );
    }
}
