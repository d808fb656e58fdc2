/**
 * Registry authentication: the `WWW-Authenticate` challenges of RFC 7235 and the Docker token
 * flow (https://distribution.github.io/distribution/spec/auth/token/): the registry answers
 * 401 with `Bearer realm=...,service=...`; the client asks the realm for a token for a scope
 * such as `repository:baseten/truss-server-base:pull`, with basic credentials or anonymously.
 */

/** A registry user. The password is only ever sent in Authorization headers. */
export interface Credentials {
    readonly username: string;
    readonly password: string;
}

export interface Challenge {
    /** Lower-cased: `basic`, `bearer`. */
    readonly scheme: string;
    /** Parameter names lower-cased: `realm`, `service`, `scope`, `error`. */
    readonly params: Readonly<Record<string, string>>;
}

const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/** Parses a WWW-Authenticate header that may hold several challenges, e.g. `Basic realm="x", Bearer realm="y",service="z"`. */
export function parseChallenges(header: string): Challenge[] {
    const out: { scheme: string; params: Record<string, string> }[] = [];
    let i = 0;
    const n = header.length;
    const skip = (chars: RegExp): void => {
        while (i < n && chars.test(header[i])) i++;
    };
    const token = (): string => {
        const start = i;
        while (i < n && TOKEN_CHAR.test(header[i])) i++;
        return header.slice(start, i);
    };
    const quoted = (): string => {
        let value = "";
        i++; // opening quote
        while (i < n && header[i] !== '"') {
            if (header[i] === "\\" && i + 1 < n) i++;
            value += header[i++];
        }
        i++; // closing quote
        return value;
    };
    const bare = (): string => {
        const start = i;
        while (i < n && !/[\s,]/.test(header[i])) i++;
        return header.slice(start, i);
    };
    while (i < n) {
        skip(/[\s,]/);
        const scheme = token();
        if (!scheme) {
            i++;
            continue;
        }
        const challenge = { scheme: scheme.toLowerCase(), params: {} as Record<string, string> };
        out.push(challenge);
        for (;;) {
            skip(/[\s,]/);
            const mark = i;
            const name = token();
            skip(/\s/);
            if (!name || header[i] !== "=") {
                i = mark; // the next challenge's scheme
                break;
            }
            i++;
            skip(/\s/);
            // Unquoted values should be tokens; registries in the wild put URLs there too.
            const value = header[i] === '"' ? quoted() : bare();
            challenge.params[name.toLowerCase()] = value;
        }
    }
    return out;
}

/** `repository:baseten/truss-server-base:pull` (or `pull,push`). */
export function repositoryScope(path: string, push = false): string {
    return `repository:${path}:${push ? "pull,push" : "pull"}`;
}

/**
 * Hosts of token services that belong to a registry although they are not its host: Docker
 * Hub's API is served by registry-1.docker.io and its tokens by auth.docker.io.
 */
export const KNOWN_TOKEN_REALM_HOSTS: Readonly<Record<string, readonly string[]>> = { "docker.io": ["auth.docker.io"] };

function isLoopbackHost(hostname: string): boolean {
    return hostname === "localhost" || hostname === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

/**
 * Why a registry's credentials may not be sent to a token realm it names, or undefined when they
 * may: the realm must be https (http only on loopback) and on one of `hosts` (the registry's own
 * host names and those the stack config allows). A registry's challenge is only a header of an
 * answer, so a registry (or anyone between) could otherwise send the password anywhere.
 */
export function realmProblem(realm: URL, hosts: readonly string[]): string | undefined {
    const hostname = realm.hostname.toLowerCase();
    if (realm.protocol !== "https:" && !(realm.protocol === "http:" && isLoopbackHost(hostname))) {
        return `${realm.protocol.replace(/:$/, "")}, not https (plain http is allowed only on loopback)`;
    }
    if (!hosts.map((h) => h.toLowerCase()).includes(hostname)) {
        return `on host ${hostname}, which is neither the registry's own host (${hosts.join(", ")} allowed) nor named in registry.tokenRealmHosts`;
    }
    return undefined;
}

/** The Authorization header for basic credentials. */
export function basicAuthorization(credentials: Credentials): string {
    return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, "utf8").toString("base64")}`;
}

/** A token endpoint's answer: `token` (Docker) or `access_token` (OAuth 2), with an optional lifetime. */
export function parseTokenResponse(body: unknown): { token: string; expiresInSeconds: number } | undefined {
    const b = body as Record<string, unknown> | null;
    if (!b || typeof b !== "object") return undefined;
    const token =
        typeof b.token === "string" && b.token
            ? b.token
            : typeof b.access_token === "string" && b.access_token
              ? b.access_token
              : undefined;
    if (!token) return undefined;
    // The spec's default lifetime is 60 s.
    const expiresInSeconds = typeof b.expires_in === "number" && b.expires_in > 0 ? b.expires_in : 60;
    return { token, expiresInSeconds };
}
