import * as pulumi from "@pulumi/pulumi";
import { convertedDigest, estargzCommand, estargzScript } from "../runners/estargz";

/** The provider's view of an EstargzImage: plain values (the password stays a secret in the state). */
export interface EstargzImageInputs {
    /** `<repository>:build-<hex>`: the image as built. */
    readonly source: string;
    /** The built image's manifest digest: a new build means a new conversion. */
    readonly sourceDigest: string;
    /** `<repository>:build-<hex>-estargz` */
    readonly target: string;
    readonly platform: string;
    readonly plainHttp: boolean;
    readonly sudo: boolean;
    /** containerd's socket; ctr's default when absent. */
    readonly address?: string;
    /** The Docker host that built the image (`ssh://user@host`) and its ssh options; this machine when absent. */
    readonly dockerHost?: string;
    readonly sshOpts?: string[];
    readonly username?: string;
    readonly password?: string;
}

export interface EstargzImageOutputs extends EstargzImageInputs {
    /** The converted manifest's digest. */
    readonly digest: string;
}

/** Properties whose change means another image: a new conversion. */
const IDENTITY: readonly (keyof EstargzImageInputs)[] = ["source", "sourceDigest", "target", "platform"];

/**
 * Runs the conversion script (src/runners/estargz.ts) where the image was built. Only Node's
 * child_process is required, inside the function, and the pure script writers are captured,
 * so the provider text stored with each resource stays small.
 */
function convert(inputs: EstargzImageInputs): Promise<string> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- required at run time so the provider text carries no module
    const { spawn } = require("child_process") as typeof import("child_process");
    const script = estargzScript(inputs);
    const endpoint = inputs.dockerHost ? { host: inputs.dockerHost, sshOpts: inputs.sshOpts } : undefined;
    const command = estargzCommand(endpoint, script);
    return new Promise((resolve, reject) => {
        const child = spawn(command.file, [...command.args], { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("error", (e) => reject(new Error(`cannot run ${command.file} to convert ${inputs.source} to eStargz: ${e.message}`)));
        child.on("close", (code) => {
            const digest = convertedDigest(stdout);
            if (code === 0 && digest) return resolve(digest);
            reject(
                new Error(
                    `converting ${inputs.source} (${inputs.platform}) to eStargz ${inputs.dockerHost ? `on ${inputs.dockerHost}` : "on this machine"} ` +
                        `failed (exit ${code}):\n${stderr.trim().split("\n").slice(-20).join("\n")}\n` +
                        `It needs containerd running and ctr-remote (Debian/Ubuntu package stargz-snapshotter) where the image was built; ` +
                        `the built image stays in its staging tag, so \`pulumi up\` again converts it without rebuilding.`,
                ),
            );
        });
        child.stdin.end(inputs.username && inputs.password ? `${inputs.username}:${inputs.password}\n` : "\n");
    });
}

export const estargzImageProvider: pulumi.dynamic.ResourceProvider<EstargzImageInputs, EstargzImageOutputs> = {
    async diff(_id, olds, news) {
        const replaces = IDENTITY.filter((k) => olds[k] !== news[k]);
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
    async create(inputs) {
        const digest = await convert(inputs);
        return { id: inputs.target, outs: { ...inputs, digest } };
    },
    async update(_id, olds, news) {
        // Only how to reach the builder or the registry changed: the converted image is the same.
        return { outs: { ...news, digest: olds.digest } };
    },
    async delete() {
        // Staging tags are cleaned up by the registry's own tools (see the README), never here.
    },
};

export interface EstargzImageArgs {
    readonly source: pulumi.Input<string>;
    readonly sourceDigest: pulumi.Input<string>;
    readonly target: pulumi.Input<string>;
    readonly platform: pulumi.Input<string>;
    readonly plainHttp: pulumi.Input<boolean>;
    readonly sudo: pulumi.Input<boolean>;
    readonly address?: pulumi.Input<string>;
    readonly dockerHost?: pulumi.Input<string>;
    readonly sshOpts?: pulumi.Input<string[]>;
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
            estargzImageProvider,
            name,
            { ...args, password: args.password === undefined ? undefined : pulumi.secret(args.password), digest: undefined },
            { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "password"] },
            "truss-base-images",
            "EstargzImage",
        );
    }
}
