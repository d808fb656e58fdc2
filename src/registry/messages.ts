import type { Credentials } from "./auth";
import { credentialsAdvice, CredentialsSource, rateLimitAdvice } from "./advice";
import { describeTarget, RegistryError, RegistryErrorContext, RegistryErrorKind } from "./registryError";
import { shownField } from "./manifest";
import type { Call, Reply, RetryPolicy, TransportFailure } from "./transport";

const DOING: Record<Call["op"], string> = {
    ping: "checking the registry API",
    token: "getting an access token",
    tags: "listing tags",
    manifest: "reading a manifest",
    blob: "reading a blob",
    "put-manifest": "writing a manifest",
};

/** Everything a message needs to know about the client that failed. */
export interface MessageContext {
    readonly server: string;
    readonly credentials?: Credentials;
    readonly source: CredentialsSource;
    readonly retry: RetryPolicy;
}

/**
 * The registry's error codes from its `{ "errors": [{ "code", "message" }] }` body, such as
 * `DENIED` or `NAME_UNKNOWN`: a code from the API's fixed vocabulary, never its free text. An
 * answer's text is not ours to repeat (it may hold anything, a token included), so no message
 * quotes a body.
 */
export function registryMessage(body: Buffer): string {
    try {
        const parsed = JSON.parse(body.toString("utf8")) as { errors?: { code?: unknown }[] };
        const codes = (Array.isArray(parsed.errors) ? parsed.errors : [])
            .map((e) => e?.code)
            .filter((c): c is string => typeof c === "string" && /^[A-Z][A-Z_]{0,63}$/.test(c));
        if (codes.length > 0) return ` (registry error ${[...new Set(codes)].join(", ")})`;
    } catch {
        // not JSON: nothing more to say
    }
    return "";
}

/** What an answer was, without its content: `17 bytes, content type "text/html"`. */
export function answerShape(reply: Reply): string {
    const type = reply.headers.get("content-type");
    return `${reply.body.length} bytes, content type ${type ? shownField(type) : "none"}`;
}

function errorContext(m: MessageContext, call: Pick<Call, "repository" | "reference">, status?: number): RegistryErrorContext {
    return {
        registry: m.server,
        ...(call.repository ? { repository: call.repository.path } : {}),
        ...(call.reference ? { reference: call.reference } : {}),
        ...(status !== undefined ? { status } : {}),
        ...(m.credentials ? { user: m.credentials.username } : {}),
    };
}

/** `registry R, repository P, tag T: HTTP 404 while reading a manifest: <what>` */
export function registryError(
    m: MessageContext,
    kind: RegistryErrorKind,
    call: Pick<Call, "op" | "repository" | "reference">,
    status: number | undefined,
    what: string,
): RegistryError {
    const ctx = errorContext(m, call, status);
    const http = status !== undefined ? `HTTP ${status} while ${DOING[call.op]}` : `while ${DOING[call.op]}`;
    return new RegistryError(kind, ctx, `${describeTarget(ctx)}: ${http}: ${what}`);
}

function who(m: MessageContext): string {
    return m.credentials ? `user "${m.credentials.username}"` : "anonymous access";
}

export function unauthorized(m: MessageContext, call: Call, reply: Reply): RegistryError {
    return registryError(
        m,
        "unauthorized",
        call,
        reply.status,
        `the registry did not accept ${who(m)}${registryMessage(reply.body)}. ${credentialsAdvice(m.credentials, m.source)}`,
    );
}

export function tokenRefused(m: MessageContext, call: Call, reply: Reply, service: string): RegistryError {
    const whose = m.credentials ? `the credentials of user "${m.credentials.username}"` : "anonymous access";
    return registryError(
        m,
        "unauthorized",
        call,
        reply.status,
        `the token service ${service} rejected ${whose}${registryMessage(reply.body)}. ${credentialsAdvice(m.credentials, m.source)}`,
    );
}

/** The error for an answer that is not what the call needed. */
export function statusError(m: MessageContext, call: Call, reply: Reply): RegistryError {
    const said = registryMessage(reply.body);
    switch (true) {
        case reply.status === 401:
            return unauthorized(m, call, reply);
        case reply.status === 403:
            return registryError(
                m,
                "forbidden",
                call,
                403,
                `${who(m)} may not ${call.push ? "push to" : "pull from"} this repository${said}. ` +
                    (m.credentials ? `Grant the user access to it, or use a user who has it.` : credentialsAdvice(undefined, m.source)),
            );
        case reply.status === 404:
            return registryError(m, "not-found", call, 404, `not found${said}`);
        case reply.status === 429:
            return registryError(
                m,
                "rate-limited",
                call,
                429,
                `the registry is rate limiting us and still was when we stopped retrying${said}. Wait a while and try again` +
                    rateLimitAdvice(m.credentials, m.source),
            );
        case reply.status >= 500:
            return registryError(
                m,
                "server",
                call,
                reply.status,
                `the registry failed (${reply.statusText || "server error"}) every time we tried${said}. Try again later; if it persists, check the registry's status.`,
            );
        default:
            return registryError(m, "server", call, reply.status, `unexpected answer ${reply.status} ${reply.statusText}${said}`);
    }
}

export function transportError(m: MessageContext, call: Call, failure: TransportFailure): RegistryError {
    const url = new URL(call.url);
    const where = `${url.origin}${url.pathname}`;
    switch (failure.kind) {
        case "no-answer":
            return registryError(
                m,
                "timeout",
                call,
                undefined,
                `no answer from ${where} within the ${failure.seconds} s deadline (registryTimeoutSeconds): nothing came back. Check the network and that the registry is up, or try again later.`,
            );
        case "stalled":
            return registryError(
                m,
                "timeout",
                call,
                failure.status,
                `the answer from ${where} stalled: it started (HTTP ${failure.status}, ${failure.bytes} bytes of the body) but did not finish within the ${failure.seconds} s deadline (registryTimeoutSeconds). The registry or the network is stuck; try again later.`,
            );
        case "too-large":
            return registryError(
                m,
                "too-large",
                call,
                failure.status,
                `the answer is larger than the ${Math.round(failure.limit / 1024)} KiB ${failure.what} may be, so it was not read. The registry is misbehaving, or registry.server does not point to a registry.`,
            );
        case "unreachable":
            return registryError(
                m,
                "unreachable",
                call,
                undefined,
                `the registry is unreachable at ${where} (${failure.cause}; ${failure.attempts} attempt${failure.attempts === 1 ? "" : "s"}). Check registry.server in the stack config and that the registry is running and reachable from this machine.`,
            );
    }
}

export function malformedJson(m: MessageContext, call: Call, reply: Reply): RegistryError {
    return registryError(
        m,
        "malformed",
        call,
        reply.status,
        `the answer is not the JSON object it should be (${answerShape(reply)}; the content is not shown)`,
    );
}

/** The answer's body as a JSON object, or the malformed error that says so without quoting it. */
export function jsonObjectOf(m: MessageContext, call: Call, reply: Reply): Record<string, unknown> {
    try {
        const value = JSON.parse(reply.body.toString("utf8")) as unknown;
        if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
        // reported below
    }
    throw malformedJson(m, call, reply);
}
