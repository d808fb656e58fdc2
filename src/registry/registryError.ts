import { UserError } from "../errors";

/** What went wrong talking to a registry; tests and callers branch on it, users read the message. */
export type RegistryErrorKind =
    /** 401: no or wrong credentials. */
    | "unauthorized"
    /** 403: the user may not do this. */
    | "forbidden"
    /** 404 where something must exist (a source manifest, a blob). */
    | "not-found"
    /** 429 beyond the retry budget. */
    | "rate-limited"
    /** Nothing answered: connection refused, DNS failure, reset. */
    | "unreachable"
    /** No (complete) answer within the look-up's deadline. */
    | "timeout"
    /** An answer larger than what it should be (a manifest, a config blob, a page of tags) may be. */
    | "too-large"
    /** 5xx beyond the retry budget, or another unexpected status. */
    | "server"
    /** A body that is not the JSON it should be. */
    | "malformed"
    /** Bytes whose sha256 is not the digest the registry or we expected. */
    | "digest-mismatch"
    /** A tag already holds different content and would be overwritten. */
    | "tag-exists"
    /** The registry's token service is not one we send its credentials to (not https, or on another host). */
    | "untrusted-realm";

/** Where a registry error happened. Never holds a password. */
export interface RegistryErrorContext {
    /** Server as configured, e.g. `docker.io`. */
    readonly registry: string;
    readonly repository?: string;
    /** A tag or a digest. */
    readonly reference?: string;
    readonly status?: number;
    /** The user the client authenticated as; undefined for anonymous access. */
    readonly user?: string;
}

/**
 * The one error class of the registry client. Its message names the registry, repository,
 * tag and HTTP status, says what happened and what to do; it never contains a password.
 * It is a UserError (`instanceof UserError` holds, by its prototype), so callers print its
 * message without a stack trace.
 */
export class RegistryError extends Error {
    readonly kind: RegistryErrorKind;
    readonly context: RegistryErrorContext;

    constructor(kind: RegistryErrorKind, context: RegistryErrorContext, message: string) {
        super(message);
        this.message = message;
        this.name = "RegistryError";
        this.kind = kind;
        this.context = context;
    }
}
Object.setPrototypeOf(RegistryError.prototype, UserError.prototype);

/** `registry docker.io, repository baseten/truss-server-base, tag 3.9-v0.2.2` */
export function describeTarget(ctx: RegistryErrorContext): string {
    const parts = [`registry ${ctx.registry}`];
    if (ctx.repository) parts.push(`repository ${ctx.repository}`);
    if (ctx.reference) parts.push(`${ctx.reference.startsWith("sha256:") ? "digest" : "tag"} ${ctx.reference}`);
    return parts.join(", ");
}
