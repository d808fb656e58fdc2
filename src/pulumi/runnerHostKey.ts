import * as pulumi from "@pulumi/pulumi";
import { dynamicProvider, implementedBy, TYPE_MODULE } from "./dynamicProvider";

export interface RunnerHostKeyArgs {
    /** The runner's HostKeyAlias (runnerHostAlias), also the key's comment. */
    readonly alias: string;
}

/**
 * A runner's ssh host key, made once when the resource is created and kept in the state: the
 * private half as a secret (the instance's user data, itself a secret, installs it), the public
 * half in plain text (the machine running Pulumi pins it). Replacing the instance keeps the key;
 * replacing this resource (`pulumi up --replace <its URN>`) makes a new one, which changes the
 * user data and so replaces the instance too.
 */
export class RunnerHostKey extends pulumi.dynamic.Resource {
    // `declare`: the base constructor sets them; class fields would reset them to undefined.
    declare public readonly publicKey: pulumi.Output<string>;
    declare public readonly privateKey: pulumi.Output<string>;

    constructor(name: string, args: RunnerHostKeyArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            dynamicProvider(),
            name,
            implementedBy("RunnerHostKey", { ...args, publicKey: undefined, privateKey: undefined }),
            // The engine encrypts the private half in the state; the secret() below keeps it secret
            // in this program too, whatever a mock or an older engine does with that option.
            { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "privateKey"] },
            TYPE_MODULE,
            "RunnerHostKey",
        );
    }

    /** The private half, as a secret Output in any case. */
    secretPrivateKey(): pulumi.Output<string> {
        return pulumi.secret(this.privateKey);
    }
}
