// The EstargzImage provider's implementation. The provider host loads it by name in the provider's process
// (providerImplementations.ts, dynamicProvider.ts), never serialized into the state.
import type * as pulumi from "@pulumi/pulumi";
import { spawn } from "child_process";
import { estargzCommand, estargzScript } from "../runners/estargz";
import { dockerEndpoint, SshAccess } from "../runners/ssh";

/** The provider's view of an EstargzImage: plain values (the password stays a secret in the state). */
export interface EstargzImageInputs {
    /** `<repository>:build-<hex>`: the image as built. */
    readonly source: string;
    /** The built image's manifest digest: a new build means a new conversion. */
    readonly sourceDigest: string;
    /** `<repository>:build-<hex>-estargz` */
    readonly target: string;
    readonly platform: string;
    /** Where the conversion runs: the build's Docker endpoint over ssh (a runner); this machine when absent. */
    readonly endpoint?: { readonly host: string; readonly ssh?: SshAccess };
    /** Talk to the registry over plain HTTP (a loopback registry). */
    readonly plainHttp: boolean;
    /** Run ctr with `sudo -n` (containerd's socket is root's on the runners). */
    readonly sudo: boolean;
    /** containerd's socket; ctr's default (or $CONTAINERD_ADDRESS) when absent. */
    readonly address?: string;
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
 * Runs the conversion (src/runners/estargz.ts writes its command line from the inputs, here,
 * so the state holds a few fields per image rather than the script) and reads the digest it prints.
 */
function convert(inputs: EstargzImageInputs): Promise<string> {
    const { source, target, platform, plainHttp, sudo, address } = inputs;
    const command = estargzCommand(
        inputs.endpoint && dockerEndpoint(inputs.endpoint.host, inputs.endpoint.ssh),
        estargzScript({ source, target, platform, plainHttp, sudo, ...(address ? { address } : {}) }),
    );
    return new Promise((resolve, reject) => {
        const child = spawn(command.file, [...command.args], { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("error", (e) => reject(new Error(`cannot run ${command.file}: ${e.message}`)));
        child.on("close", (code) => {
            const digest = /^digest (sha256:[a-f0-9]{64})$/m.exec(stdout)?.[1];
            if (code === 0 && digest) return resolve(digest);
            reject(
                new Error(
                    `converting ${inputs.source} (${inputs.platform}) to eStargz failed (exit ${code}):\n${stderr.trim().slice(-2000)}\n` +
                        `It needs containerd and ctr-remote (package stargz-snapshotter) where the image was built; ` +
                        `the build stays in its staging tag, so \`pulumi up\` again converts it without rebuilding.`,
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
