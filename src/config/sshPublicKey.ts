import * as sshpk from "sshpk";

/**
 * The operator's ssh public key, as `builders.sshPublicKey` gives it. sshpk (the ssh key parser
 * of Joyent's node tooling) decodes the key; this file decides which keys a runner accepts and
 * says why a key is refused.
 */

/** Key types a runner accepts, as OpenSSH names them in authorized_keys. */
export const SSH_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"] as const;

/** OpenSSH's own advice for RSA; shorter keys are refused by current servers or soon will be. */
export const MIN_RSA_BITS = 2048;

const SHAPE = "must be one line `<type> <base64 key> [comment]`, as in ~/.ssh/id_ed25519.pub";

/** OpenSSH's type name of a decoded key, to catch a key pasted under another type's name. */
function openSshType(key: sshpk.Key): string {
    if (key.type === "ecdsa") return `ecdsa-sha2-${key.curve}`;
    return `ssh-${key.type}`;
}

/** What is wrong with an ssh public key line (what was given and what is allowed), or undefined. */
export function sshPublicKeyProblem(text: string): string | undefined {
    if (/PRIVATE KEY/.test(text)) {
        return "is a private key; give the public key instead (the one line of the .pub file); a private key must never be in config or state";
    }
    if (/[\r\n]/.test(text)) return `${SHAPE}; it has more than one line`;
    const type = text.split(" ", 1)[0];
    if (type.startsWith("sk-")) {
        // A security key wants a touch per connection; the readiness gate and parallel builds
        // connect without anyone at the keyboard (BatchMode), so such a key would hang `pulumi up`.
        return `is a FIDO security key (${type}), which needs a touch for every connection; use a key the ssh agent can use unattended; allowed types: ${SSH_KEY_TYPES.join(", ")}`;
    }
    if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) {
        return `has the key type ${JSON.stringify(type)}; allowed types: ${SSH_KEY_TYPES.join(", ")}`;
    }
    let key: sshpk.Key;
    try {
        key = sshpk.parseKey(text, "ssh");
    } catch {
        return `${SHAPE}; its base64 part is not a ${type} key (truncated or pasted from another key?)`;
    }
    if (openSshType(key) !== type) {
        return `${SHAPE}; its base64 part is not a ${type} key (truncated or pasted from another key?)`;
    }
    if (key.type === "rsa" && key.size < MIN_RSA_BITS) {
        return `is an RSA key of ${key.size} bits; at least ${MIN_RSA_BITS} bits, or an ssh-ed25519 key (ssh-keygen -t ed25519)`;
    }
    return undefined;
}
