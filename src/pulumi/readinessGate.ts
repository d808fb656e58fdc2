import * as pulumi from "@pulumi/pulumi";
import type { RunnerAccess } from "../config/runners";
import type { SshAccess } from "../runners/ssh";
import { dynamicProvider, implementedBy, TYPE_MODULE, withFormerTypeToken } from "./dynamicProvider";

export interface ReadinessGateArgs {
    /** The runner's name for messages, e.g. gpu-0. */
    readonly runner: pulumi.Input<string>;
    /** The Docker provider's host: `ssh://<user>@<address or Session Manager alias>`. */
    readonly host: pulumi.Input<string>;
    /** The runner's private key and tunnel, if any: the Docker provider's ssh options are made from them (sshOptions). */
    readonly ssh?: SshAccess;
    /** How the runner is reached (`ssh` or `ssm`), for the hints of failures. */
    readonly access?: pulumi.Input<RunnerAccess>;
    /** Wait for cloud-init (true for EC2 runners). */
    readonly waitForCloudInit: pulumi.Input<boolean>;
    /** A runtime Docker must offer (`nvidia` on GPU runners). */
    readonly requireRuntime?: pulumi.Input<string>;
    /** Bound of the whole wait. */
    readonly timeoutSeconds: pulumi.Input<number>;
    /** Shown with any failure: a config fact that explains it. */
    readonly note?: pulumi.Input<string>;
    /** The runner's EC2 instance, from the state: the Session Manager tunnel goes to it and to no other. */
    readonly instanceId?: pulumi.Input<string>;
    /** The public half of the runner's host key (RunnerHostKey): the only key ssh accepts from it. */
    readonly hostKey?: pulumi.Input<string>;
    /** The host as built from the stack's Elastic IP; must equal `host` (access ssh only). */
    readonly expectedHost?: pulumi.Input<string>;
    /** The images this update builds on the runner (sorted references); empty: nothing to check. */
    readonly builds: pulumi.Input<pulumi.Input<string>[]>;
}

/**
 * The readiness gate of one runner: images that build on the runner depend on it, so no build
 * starts before the runner's Docker daemon answers over the provider's own transport.
 */
export class ReadinessGate extends pulumi.dynamic.Resource {
    // `declare`: the base constructor sets it; a class field would reset it to undefined.
    declare public readonly dockerVersion: pulumi.Output<string | undefined>;

    constructor(name: string, args: ReadinessGateArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            dynamicProvider(),
            name,
            implementedBy("ReadinessGate", { ...args, dockerVersion: undefined }),
            withFormerTypeToken("ReadinessGate", opts),
            TYPE_MODULE,
            "ReadinessGate",
        );
    }
}
