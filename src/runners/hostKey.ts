import { generateKeyPairSync } from "crypto";
import * as sshpk from "sshpk";

/**
 * A runner's ssh host key, made by the stack before the runner exists: the instance installs it
 * at first boot (user data), and the machine running Pulumi pins its public half, so ssh talks to
 * a runner only when the host proves it holds the key the stack made for it. Node's crypto makes
 * the key; sshpk writes it in OpenSSH's formats.
 */

export interface HostKey {
    /** `-----BEGIN OPENSSH PRIVATE KEY-----...`: what sshd reads. A secret. */
    readonly privateKey: string;
    /** `ssh-ed25519 AAAA...` (no comment): what known_hosts holds. */
    readonly publicKey: string;
}

/**
 * A new ed25519 host key. `comment` (e.g. the runner's host alias) goes into the private key,
 * where `ssh-keygen -l` shows it; the public line has none, as every resource that pins it
 * stores it.
 */
export function generateHostKey(comment: string): HostKey {
    const { privateKey } = generateKeyPairSync("ed25519");
    const key = sshpk.parsePrivateKey(privateKey.export({ type: "pkcs8", format: "pem" }), "pem");
    key.comment = comment;
    return { privateKey: key.toString("ssh-private"), publicKey: hostPublicKey(key.toPublic().toString("ssh")) };
}

/**
 * `ssh-ed25519 <base64>` of a host public key line (the comment dropped), or an error saying what
 * was given: a pin is only ever an ed25519 key the stack made.
 */
export function hostPublicKey(line: string): string {
    const [type, data] = line.trim().split(/\s+/);
    let key: sshpk.Key | undefined;
    try {
        key = type === "ssh-ed25519" && data ? sshpk.parseKey(`${type} ${data}`, "ssh") : undefined;
    } catch {
        key = undefined;
    }
    if (!key || key.type !== "ed25519") {
        throw new Error(
            `a runner's pinned host key must be one line "ssh-ed25519 <base64 key>" as the stack generates it; got ${JSON.stringify(line.slice(0, 40))}`,
        );
    }
    return `${type} ${data}`;
}

/** The known_hosts line that pins `publicKey` for `alias` (ssh's HostKeyAlias, not an address). */
export function knownHostsLine(alias: string, publicKey: string): string {
    return `${alias} ${hostPublicKey(publicKey)}\n`;
}
