import { architectureOf } from "../images/platforms";

/** Node's `process.arch` -> the Docker architecture it runs. */
const NODE_ARCH: Readonly<Record<string, string>> = { x64: "amd64", arm64: "arm64" };
/** The binfmt_misc entry QEMU user emulation registers for each architecture. */
const QEMU_BINFMT: Readonly<Record<string, string>> = { amd64: "qemu-x86_64", arm64: "qemu-aarch64" };

/**
 * Why the local Docker daemon cannot build for `platform`, or undefined when it can: natively
 * (same architecture) or through QEMU user emulation registered with binfmt_misc. `binfmt` is the
 * list of entries in /proc/sys/fs/binfmt_misc.
 */
export function emulationProblem(platform: string, nodeArch: string, binfmt: readonly string[]): string | undefined {
    const host = NODE_ARCH[nodeArch] ?? nodeArch;
    const wanted = architectureOf(platform);
    if (wanted === host) return undefined;
    const entry = QEMU_BINFMT[wanted];
    if (entry && binfmt.includes(entry)) return undefined;
    return (
        `matrix.platforms asks for ${platform}, and builders.mode is local: the local Docker daemon runs on ${host} ` +
        `and has no emulation for ${wanted} (no ${entry ?? `qemu entry for ${wanted}`} in /proc/sys/fs/binfmt_misc). ` +
        `Enable QEMU user emulation on this machine (Debian/Ubuntu: \`sudo apt-get install qemu-user-static binfmt-support\`; ` +
        `or \`docker run --privileged --rm tonistiigi/binfmt --install ${wanted}\`), or build natively with builders.mode: ec2 ` +
        `and ${wanted === "arm64" ? "a builders.arm64 pool" : "the gpu and cpu pools"}.`
    );
}
