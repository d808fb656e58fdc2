import { CommandLine, shellQuote } from "./commandLine";
import { DockerEndpoint, parseSshHost, sshCommand } from "./ssh";

/**
 * Converting a pushed image to eStargz (lazy-pullable gzip layers with a table of contents) with
 * OCI media types, by the stargz-snapshotter project's `ctr-remote` and containerd, where the
 * image was built: on its runner, over the same ssh as its Docker daemon, or on this machine.
 * The conversion keeps the image config (labels included; only the layers' diff_ids change).
 * Pure: this file only writes the command lines.
 */

export interface EstargzConversion {
    /** `docker.io/baseten/truss-server-base:build-<hex>`: the image as built. */
    readonly source: string;
    /** `docker.io/baseten/truss-server-base:build-<hex>-estargz`: where the converted image is pushed. */
    readonly target: string;
    /** The platform the image is for; containerd skips an image of another platform without it. */
    readonly platform: string;
    /** Talk to the registry over plain HTTP (a loopback test registry). */
    readonly plainHttp: boolean;
    /** containerd's socket; ctr's default (or $CONTAINERD_ADDRESS) when absent. */
    readonly address?: string;
    /** Run the ctr commands with `sudo -n` (containerd's socket belongs to root on the runners). */
    readonly sudo: boolean;
}

/** The last line the script prints: `digest sha256:<hex>`, the converted manifest's digest. */
export const DIGEST_LINE = /^digest (sha256:[a-f0-9]{64})$/m;

/**
 * A POSIX shell script that fetches the source into containerd's content store (without
 * unpacking it), converts it, pushes the result, prints its manifest digest and removes both
 * image records (containerd then collects their content). Registry credentials, if any, come as
 * the first line of standard input (`user:password`), never on the command line the caller runs.
 */
export function estargzScript(c: EstargzConversion): string {
    const prefix = [...(c.sudo ? ["sudo", "-n"] : [])];
    const ctr = (tool: "ctr" | "ctr-remote", ...args: string[]) =>
        [...prefix, tool, ...(c.address ? ["--address", c.address] : []), ...args].map(shellQuote).join(" ");
    const plain = c.plainHttp ? ["--plain-http"] : [];
    const platform = ["--platform", c.platform];
    return [
        "set -eu",
        "auth=''",
        "IFS= read -r auth || true",
        'if [ -n "$auth" ]; then set -- --user "$auth"; else set --; fi',
        `${ctr("ctr", "content", "fetch", ...plain, ...platform)} "$@" ${shellQuote(c.source)} >/dev/null`,
        `${ctr("ctr-remote", "image", "convert", "--estargz", "--oci", ...platform, c.source, c.target)} >/dev/null`,
        `${ctr("ctr-remote", "image", "push", ...plain, ...platform)} "$@" ${shellQuote(c.target)} >/dev/null`,
        `digest=$(${ctr("ctr", "images", "ls", `name==${c.target}`)} | awk 'NR==2 {print $3}')`,
        `${ctr("ctr", "images", "rm", c.source, c.target)} >/dev/null`,
        'echo "digest $digest"',
        "",
    ].join("\n");
}

/**
 * Where the script runs: through ssh on the runner whose Docker daemon built the image (same
 * host, user and options as the Docker provider), or by the local `sh`. The script is passed as
 * one argument; standard input carries only the credentials line.
 */
export function estargzCommand(endpoint: DockerEndpoint | undefined, script: string): CommandLine {
    if (endpoint && parseSshHost(endpoint.host)) return sshCommand(endpoint, `sh -c ${shellQuote(script)}`);
    return { file: "sh", args: ["-c", script] };
}

/** The converted manifest's digest from the script's output; undefined when it printed none. */
export function convertedDigest(stdout: string): string | undefined {
    return DIGEST_LINE.exec(stdout)?.[1];
}
