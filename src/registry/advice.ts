import type { Credentials } from "./auth";

/**
 * Where the command that reads the registry gets its credentials from, so that every
 * authentication error names the thing to fix in that command: an environment variable for
 * the CLIs, a Pulumi secret for the program.
 */
export interface CredentialsSource {
    /** The user the stack config names (`registry.username`), even when no password came with it. */
    readonly configuredUser?: string;
    /** How to give the password, e.g. "the TRUSS_REGISTRY_PASSWORD environment variable". */
    readonly passwordFrom: string;
}

/** For code that is not one of the commands (tests, tools). */
export const GENERIC_CREDENTIALS: CredentialsSource = { passwordFrom: "the client's credentials" };

/** What to do after the registry refused us. */
export function credentialsAdvice(credentials: Credentials | undefined, source: CredentialsSource): string {
    if (credentials) {
        return (
            `Check registry.username ("${credentials.username}") in the stack config and its password (${source.passwordFrom}); ` +
            `on Docker Hub use an access token that may read and write the repositories.`
        );
    }
    if (source.configuredUser) {
        return `The stack config sets registry.username to "${source.configuredUser}", but no password was given, so the registry was read anonymously: set ${source.passwordFrom}.`;
    }
    return `Set registry.username in the stack config, and its password with ${source.passwordFrom}.`;
}

/** For 429s: authenticated users get a higher limit. */
export function rateLimitAdvice(credentials: Credentials | undefined, source: CredentialsSource): string {
    if (credentials) return ".";
    return source.configuredUser
        ? `; authenticated users get a higher limit (set ${source.passwordFrom}).`
        : `; authenticated users get a higher limit (set registry.username, and the password with ${source.passwordFrom}).`;
}
