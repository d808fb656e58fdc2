/** Tokens are renewed this long before the registry would reject them. */
const TOKEN_MARGIN_MS = 10_000;

/**
 * Bearer tokens by scope, kept until shortly before they expire. Concurrent callers of one
 * scope share one token request; a failed request is forgotten so that the next call retries.
 */
export class TokenCache {
    private readonly tokens = new Map<string, { token: Promise<string>; expiresAt: number }>();

    get(scope: string, fetchToken: () => Promise<{ token: string; expiresInSeconds: number }>): Promise<string> {
        const cached = this.tokens.get(scope);
        if (cached && cached.expiresAt > Date.now()) return cached.token;
        const entry = { token: Promise.resolve(""), expiresAt: Number.POSITIVE_INFINITY };
        entry.token = fetchToken().then(
            (t) => {
                entry.expiresAt = Date.now() + Math.max(0, t.expiresInSeconds * 1000 - TOKEN_MARGIN_MS);
                return t.token;
            },
            (e: unknown) => {
                if (this.tokens.get(scope) === entry) this.tokens.delete(scope);
                throw e;
            },
        );
        this.tokens.set(scope, entry);
        return entry.token;
    }

    /** After a 401 with a token: the registry no longer takes it. */
    forget(scope: string): void {
        this.tokens.delete(scope);
    }
}
