import * as pulumi from "@pulumi/pulumi";
import type { ImageSpec } from "../images/spec";
import type { SmokeImports } from "../runners/smoke";
import type { SmokeChecks } from "../runners/smokeChecks";
import type { SshAccess } from "../runners/ssh";
import { dynamicProvider, implementedBy, TYPE_MODULE, withFormerTypeToken } from "./dynamicProvider";

export interface SmokeTestArgs {
    /** The pushed image by digest: `<repository>@sha256:...`. */
    readonly image: pulumi.Input<string>;
    /** The pushed digest; the test runs again exactly when it changes. */
    readonly digest: pulumi.Input<string>;
    /** Which checks apply: python version and path, live reload, GPU. */
    readonly spec: ImageSpec;
    /** The import names of the image's requirements (smokeImportsOf its staged context). */
    readonly imports?: SmokeImports;
    /** Which checks apply on this runner (smokeChecksFor): `gpu-libraries` on a runner without an NVIDIA GPU. */
    readonly checks?: SmokeChecks;
    /** The runner's name, for messages. */
    readonly runner: pulumi.Input<string>;
    /** The runner's Docker host, as its Docker provider has it. */
    readonly host: pulumi.Input<string>;
    /** The runner's host key alias, private key and tunnel: the provider's ssh options are made from them (sshOptions). */
    readonly ssh?: SshAccess;
    /** The public half of the runner's host key: the only key ssh accepts from it. */
    readonly hostKey?: pulumi.Input<string>;
    /** The runner's EC2 instance, from the state: the Session Manager tunnel goes to it. */
    readonly instanceId?: pulumi.Input<string>;
    readonly timeoutSeconds: pulumi.Input<number>;
}

/** The smoke test of one pushed image: a failing test fails the update and shows the container's output. */
export class SmokeTest extends pulumi.dynamic.Resource {
    // `declare`: the base constructor sets it; a class field would reset it to undefined.
    declare public readonly testedDigest: pulumi.Output<string>;

    constructor(name: string, args: SmokeTestArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            dynamicProvider(),
            name,
            implementedBy("SmokeTest", {
                ...args,
                spec: { ...args.spec },
                imports: args.imports && { packages: [...args.imports.packages], control: [...args.imports.control] },
                testedDigest: undefined,
            }),
            withFormerTypeToken("SmokeTest", opts),
            TYPE_MODULE,
            "SmokeTest",
        );
    }
}
