import { basicAuthorization, Challenge, Credentials, parseChallenges, parseTokenResponse, repositoryScope } from "./auth";
import { describeTarget, RegistryError, RegistryErrorContext, RegistryErrorKind } from "./errors";
import {
    ImageConfig,
    ImageManifest,
    MalformedError,
    Manifest,
    MANIFEST_ACCEPT,
    parseImageConfig,
    parseManifest,
    selectPlatform,
    sha256Digest,
} from "./manifest";
import { apiBaseUrl, canonicalServer, formatRepository, isDigest, parseRepository, RepositoryName, splitImageRef } from "./reference";

/** The transport: Node's fetch. Injectable only so that tests can send a public host's traffic to loopback. */
export type Fetch = typeof fetch;

/** Retries of 429, 5xx, timeouts and network failures. `attempts` counts the first try. */
export interface RetryPolicy {
    readonly attempts: number;
    /** Backoff before retry n is base * 2^(n-1), with +-20% jitter, at most maxDelayMs. */
    readonly baseDelayMs: number;
    /** The cap on any wait, including one asked for by Retry-After. */
    readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 500, maxDelayMs: 10_000 };
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_CONCURRENCY = 8;
/** The platform whose entry of an index holds the labels we read. */
export const DEFAULT_PLATFORM = "linux/amd64";

export interface RegistryClientOptions {
    /** As configured: `docker.io`, `localhost:5000`. */
    readonly server: string;
    /** Anonymous when absent (reads of public repositories). */
    readonly credentials?: Credentials;
    /** Default: http for loopback servers, https otherwise. */
    readonly scheme?: "http" | "https";
    readonly fetch?: Fetch;
    /** Per request, including reading the body. */
    readonly timeoutMs?: number;
    readonly retry?: Partial<RetryPolicy>;
    /** At most this many requests in flight. */
    readonly concurrency?: number;
    readonly userAgent?: string;
}

export type Operation = "ping" | "token" | "tags" | "manifest" | "blob" | "put-manifest";

/** HTTP requests sent, retries and token requests included. */
export interface RequestStats {
    readonly requests: number;
    readonly byOperation: Readonly<Record<Operation, number>>;
}

/** What HEAD tells about a manifest. */
export interface ManifestHead {
    readonly digest: string;
    readonly mediaType: string;
    readonly size: number;
}

interface Call {
    readonly op: Operation;
    readonly method: "GET" | "HEAD" | "PUT";
    readonly url: string;
    readonly repository?: RepositoryName;
    readonly reference?: string;
    /** Needs the push scope. */
    readonly push?: boolean;
    readonly headers?: Record<string, string>;
    readonly body?: Buffer;
}

interface Reply {
    readonly status: number;
    readonly statusText: string;
    readonly headers: Headers;
    readonly body: Buffer;
}

const DOING: Record<Operation, string> = {
    ping: "checking the registry API",
    token: "getting an access token",
    tags: "listing tags",
    manifest: "reading a manifest",
    blob: "reading a blob",
    "put-manifest": "writing a manifest",
};

/** How many pages of tags we follow before deciding the registry's Link headers loop. */
const MAX_TAG_PAGES = 10_000;
/** Tokens are renewed this long before the registry would reject them. */
const TOKEN_MARGIN_MS = 10_000;

// Fields are initialised in constructors, never in class bodies: Pulumi's closure serialization
// (which carries this code into the re-tag dynamic provider) keeps only constructor bodies.
class Limiter {
    private active: number;
    private readonly waiting: (() => void)[];
    constructor(private readonly max: number) {
        this.active = 0;
        this.waiting = [];
    }
    async run<T>(f: () => Promise<T>): Promise<T> {
        if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
        this.active++;
        try {
            return await f();
        } finally {
            this.active--;
            this.waiting.shift()?.();
        }
    }
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Network failures and timeouts are worth another try; anything else thrown by fetch is a bug. */
function isTransient(e: unknown): boolean {
    const err = e as { name?: string; message?: string };
    return (
        err?.name === "TimeoutError" ||
        err?.name === "AbortError" ||
        (e instanceof TypeError && /fetch failed|terminated|socket/i.test(err.message ?? ""))
    );
}

function isTimeout(e: unknown): boolean {
    const name = (e as { name?: string })?.name;
    return name === "TimeoutError" || name === "AbortError";
}

/** `connect ECONNREFUSED 127.0.0.1:5000` from undici's `fetch failed` wrapper. */
function networkCause(e: unknown): string {
    let cause = (e as { cause?: unknown })?.cause as { code?: string; message?: string; errors?: { message?: string }[] } | undefined;
    if (cause && !cause.message && cause.errors?.length) cause = cause.errors[0] as typeof cause;
    return cause?.message || cause?.code || (e as Error)?.message || String(e);
}

/** The registry's own explanation, from its `{ "errors": [{ "code", "message" }] }` body. */
function registryMessage(body: Buffer): string {
    try {
        const parsed = JSON.parse(body.toString("utf8")) as { errors?: { code?: string; message?: string }[]; details?: string };
        const errors = (parsed.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(": ")).filter(Boolean);
        if (errors.length > 0) return ` (${errors.join("; ")})`;
        if (typeof parsed.details === "string") return ` (${parsed.details})`;
    } catch {
        // not JSON: nothing more to say
    }
    return "";
}

function retryAfterMs(header: string | null): number | undefined {
    if (!header) return undefined;
    const seconds = Number(header);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const at = Date.parse(header);
    return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function nextLink(link: string | null, current: string): string | undefined {
    if (!link) return undefined;
    for (const part of link.split(/,(?=\s*<)/)) {
        const m = /^\s*<([^>]*)>(.*)$/.exec(part);
        if (m && /;\s*rel="?next"?/i.test(m[2])) return new URL(m[1], current).toString();
    }
    return undefined;
}

/**
 * A client of one registry server's HTTP API v2 (Docker Hub or any distribution-compatible
 * registry). It handles bearer-token and basic auth, retries 429/5xx/network failures with
 * capped backoff, times out every request, caches immutable content (blobs and manifests by
 * digest) and counts its requests. Every failure is a RegistryError a user can act on.
 */
export class RegistryClient {
    /** Canonical server name (`docker.io` for Docker Hub). */
    readonly server: string;
    /** `https://registry-1.docker.io` */
    readonly baseUrl: string;
    private readonly credentials?: Credentials;
    private readonly fetchImpl: Fetch;
    private readonly timeoutMs: number;
    private readonly retry: RetryPolicy;
    private readonly limiter: Limiter;
    private readonly userAgent: string;
    private readonly counts: Record<Operation, number>;
    private pinged?: Promise<void>;
    /** The token service, once a 401 has named it. */
    private bearer?: { realm: string; service?: string };
    private useBasic: boolean;
    private readonly tokens: Map<string, { token: Promise<string>; expiresAt: number }>;
    private readonly manifestsByDigest: Map<string, Promise<Manifest | undefined>>;
    private readonly configsByDigest: Map<string, Promise<ImageConfig>>;

    constructor(options: RegistryClientOptions) {
        this.server = canonicalServer(options.server);
        this.baseUrl = apiBaseUrl(options.server, options.scheme);
        this.credentials = options.credentials;
        this.fetchImpl = options.fetch ?? fetch;
        this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
        this.retry = { ...DEFAULT_RETRY, ...options.retry };
        this.limiter = new Limiter(Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY));
        this.userAgent = options.userAgent ?? "truss-base-images";
        this.counts = { ping: 0, token: 0, tags: 0, manifest: 0, blob: 0, "put-manifest": 0 };
        this.useBasic = false;
        this.tokens = new Map();
        this.manifestsByDigest = new Map();
        this.configsByDigest = new Map();
    }

    /** Requests sent so far. */
    get stats(): RequestStats {
        const byOperation = { ...this.counts };
        return { requests: Object.values(byOperation).reduce((a, b) => a + b, 0), byOperation };
    }

    /** The user this client authenticates as, for messages (never the password). */
    get user(): string | undefined {
        return this.credentials?.username;
    }

    /**
     * Every tag of a repository, following `Link: <...>; rel="next"` pages. `pageSize` sets the
     * `n` parameter (the registry's default when unset). A repository that does not exist (404)
     * has nothing published: an empty list.
     */
    async listTags(repository: string, opts: { pageSize?: number } = {}): Promise<string[]> {
        const name = this.repositoryName(repository);
        let url = `${this.baseUrl}/v2/${name.path}/tags/list${opts.pageSize ? `?n=${opts.pageSize}` : ""}`;
        const tags: string[] = [];
        const visited = new Set<string>();
        for (let page = 0; page < MAX_TAG_PAGES; page++) {
            visited.add(url);
            const call: Call = { op: "tags", method: "GET", url, repository: name };
            const reply = await this.request(call);
            if (reply.status === 404 && page === 0) return [];
            if (reply.status !== 200) throw this.statusError(call, reply);
            const body = this.json(call, reply) as { tags?: unknown };
            if (
                body.tags !== null &&
                body.tags !== undefined &&
                (!Array.isArray(body.tags) || !body.tags.every((t) => typeof t === "string"))
            ) {
                throw this.error("malformed", call, reply.status, `the tag list has no "tags" list of strings`);
            }
            tags.push(...((body.tags as string[] | null) ?? []));
            const next = nextLink(reply.headers.get("link"), url);
            if (!next) return tags;
            if (new URL(next).origin !== new URL(this.baseUrl).origin) {
                throw this.error(
                    "malformed",
                    call,
                    reply.status,
                    `the tag list links its next page to another host (${new URL(next).origin})`,
                );
            }
            if (visited.has(next))
                throw this.error("malformed", call, reply.status, `the tag list's next page is a page already read (${next})`);
            url = next;
        }
        throw this.error(
            "malformed",
            { op: "tags", method: "GET", url, repository: name },
            undefined,
            `the tag list has more than ${MAX_TAG_PAGES} pages`,
        );
    }

    /** A manifest by tag or digest, or undefined if the registry has none. Verified against its digest. */
    async getManifest(repository: string, reference: string): Promise<Manifest | undefined> {
        const name = this.repositoryName(repository);
        if (isDigest(reference)) return this.manifestByDigest(name, reference);
        return this.fetchManifest(name, reference, false);
    }

    /** Digest, media type and size of a manifest, without its body (HEAD); undefined if absent. */
    async headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
        const name = this.repositoryName(repository);
        const call: Call = {
            op: "manifest",
            method: "HEAD",
            url: this.manifestUrl(name, reference),
            repository: name,
            reference,
            headers: { accept: MANIFEST_ACCEPT },
        };
        const reply = await this.request(call);
        if (reply.status === 404) return undefined;
        if (reply.status !== 200) throw this.statusError(call, reply);
        const digest = reply.headers.get("docker-content-digest");
        const mediaType = reply.headers.get("content-type")?.split(";")[0].trim();
        if (!digest || !isDigest(digest) || !mediaType) {
            // Registries need not send the digest on HEAD: read the manifest instead.
            const m = await this.getManifest(repository, reference);
            return m && { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
        }
        return { digest, mediaType, size: Number(reply.headers.get("content-length") ?? 0) };
    }

    /** A blob's bytes, verified against its digest. */
    async getBlob(repository: string, digest: string): Promise<Buffer> {
        const name = this.repositoryName(repository);
        const call: Call = {
            op: "blob",
            method: "GET",
            url: `${this.baseUrl}/v2/${name.path}/blobs/${digest}`,
            repository: name,
            reference: digest,
        };
        const reply = await this.request(call);
        if (reply.status === 404) {
            throw this.error(
                "not-found",
                call,
                404,
                `the blob is missing although a manifest references it; the repository is damaged, push the image again`,
            );
        }
        if (reply.status !== 200) throw this.statusError(call, reply);
        const actual = sha256Digest(reply.body);
        if (actual !== digest)
            throw this.error("digest-mismatch", call, reply.status, `the blob's content has digest ${actual}, not ${digest}`);
        return reply.body;
    }

    /**
     * The config (labels) of an image. For an index, the entry of `platform` is read; undefined
     * when the index has none. Cached by config digest: many tags share one config.
     */
    async getImageConfig(repository: string, manifest: Manifest, platform: string = DEFAULT_PLATFORM): Promise<ImageConfig | undefined> {
        const image = await this.platformManifest(repository, manifest, platform);
        if (!image) return undefined;
        const digest = image.config.digest;
        let config = this.configsByDigest.get(digest);
        if (!config) {
            config = this.getBlob(repository, digest).then((bytes) => {
                try {
                    return parseImageConfig(bytes);
                } catch (e) {
                    if (!(e instanceof MalformedError)) throw e;
                    const name = this.repositoryName(repository);
                    throw this.error(
                        "malformed",
                        { op: "blob", method: "GET", url: "", repository: name, reference: digest },
                        200,
                        e.message,
                    );
                }
            });
            config.catch(() => this.configsByDigest.delete(digest));
            this.configsByDigest.set(digest, config);
        }
        return config;
    }

    /** The single-platform manifest of an image: itself, or its index's entry for `platform`. */
    async platformManifest(
        repository: string,
        manifest: Manifest,
        platform: string = DEFAULT_PLATFORM,
    ): Promise<ImageManifest | undefined> {
        if (manifest.kind === "image") return manifest;
        const entry = selectPlatform(manifest, platform);
        if (!entry) return undefined;
        const child = await this.getManifest(repository, entry.digest);
        if (!child) {
            const name = this.repositoryName(repository);
            throw this.error(
                "not-found",
                { op: "manifest", method: "GET", url: "", repository: name, reference: entry.digest },
                404,
                `the ${platform} manifest of index ${manifest.digest} is missing; push the image again`,
            );
        }
        return child.kind === "image" ? child : undefined;
    }

    /**
     * PUTs manifest bytes under a tag, exactly as given, and returns their digest, after checking
     * that the registry stored the same digest.
     */
    async putManifest(repository: string, tag: string, bytes: Buffer, mediaType: string): Promise<string> {
        const name = this.repositoryName(repository);
        const call: Call = {
            op: "put-manifest",
            method: "PUT",
            url: this.manifestUrl(name, tag),
            repository: name,
            reference: tag,
            push: true,
            headers: { "content-type": mediaType },
            body: bytes,
        };
        const reply = await this.request(call);
        if (reply.status !== 201 && reply.status !== 200 && reply.status !== 202) throw this.statusError(call, reply);
        const digest = sha256Digest(bytes);
        const stored = reply.headers.get("docker-content-digest");
        if (stored && stored !== digest) {
            throw this.error(
                "digest-mismatch",
                call,
                reply.status,
                `the registry stored the manifest as ${stored} but its bytes have digest ${digest}`,
            );
        }
        return digest;
    }

    /**
     * Copies a manifest to another tag of the same repository: the same bytes and media type,
     * so the new tag has the same digest (what `crane copy` does within a repository). The
     * source is a tag, a digest, or a full reference into the same repository. With
     * `expectedDigest`, the source must still be that manifest.
     */
    async copyTag(repository: string, sourceRef: string, targetTag: string, opts: { expectedDigest?: string } = {}): Promise<ManifestHead> {
        const name = this.repositoryName(repository);
        const source = this.referenceIn(name, sourceRef);
        const manifest = isDigest(source) ? await this.manifestByDigest(name, source, true) : await this.fetchManifest(name, source, true);
        const where: Call = { op: "manifest", method: "GET", url: this.manifestUrl(name, source), repository: name, reference: source };
        if (!manifest)
            throw this.error("not-found", where, 404, `the source of the copy to tag ${targetTag} no longer exists; run the preview again`);
        if (opts.expectedDigest && manifest.digest !== opts.expectedDigest) {
            throw this.error(
                "digest-mismatch",
                where,
                200,
                `the source now has digest ${manifest.digest}, not ${opts.expectedDigest} as planned; run the preview again`,
            );
        }
        const digest = await this.putManifest(repository, targetTag, manifest.bytes, manifest.mediaType);
        if (digest !== manifest.digest) {
            throw this.error(
                "digest-mismatch",
                { ...where, reference: targetTag },
                undefined,
                `the copy has digest ${digest}, not the source's ${manifest.digest}`,
            );
        }
        return { digest, mediaType: manifest.mediaType, size: manifest.bytes.length };
    }

    private repositoryName(repository: string): RepositoryName {
        const name = parseRepository(repository);
        if (name.server !== this.server) {
            throw new RegistryError(
                "not-found",
                { registry: this.server, repository },
                `repository ${repository} is not on registry ${this.server}; this client only talks to ${this.server}`,
            );
        }
        return name;
    }

    /** A tag or digest, from itself or from a full reference that must be in the same repository. */
    private referenceIn(name: RepositoryName, ref: string): string {
        if (!ref.includes("/")) return ref;
        const { repository, reference } = splitImageRef(ref);
        const other = parseRepository(repository);
        if (other.server !== name.server || other.path !== name.path) {
            throw new RegistryError(
                "not-found",
                { registry: this.server, repository: name.path },
                `cannot copy ${ref} into ${formatRepository(name)}: a copy stays within one repository (the manifest's blobs are only there)`,
            );
        }
        return reference;
    }

    private manifestUrl(name: RepositoryName, reference: string): string {
        return `${this.baseUrl}/v2/${name.path}/manifests/${reference}`;
    }

    private manifestByDigest(name: RepositoryName, digest: string, push = false): Promise<Manifest | undefined> {
        const key = `${name.path}@${digest}`;
        let m = this.manifestsByDigest.get(key);
        if (!m) {
            m = this.fetchManifest(name, digest, push);
            m.then(
                (v) => v === undefined && this.manifestsByDigest.delete(key),
                () => this.manifestsByDigest.delete(key),
            );
            this.manifestsByDigest.set(key, m);
        }
        return m;
    }

    private async fetchManifest(name: RepositoryName, reference: string, push: boolean): Promise<Manifest | undefined> {
        const call: Call = {
            op: "manifest",
            method: "GET",
            url: this.manifestUrl(name, reference),
            repository: name,
            reference,
            push,
            headers: { accept: MANIFEST_ACCEPT },
        };
        const reply = await this.request(call);
        if (reply.status === 404) return undefined;
        if (reply.status !== 200) throw this.statusError(call, reply);
        let manifest: Manifest;
        try {
            manifest = parseManifest(reply.body, reply.headers.get("content-type") ?? undefined);
        } catch (e) {
            if (e instanceof MalformedError) throw this.error("malformed", call, reply.status, e.message);
            throw e;
        }
        const served = reply.headers.get("docker-content-digest");
        if (isDigest(reference) && manifest.digest !== reference) {
            throw this.error(
                "digest-mismatch",
                call,
                reply.status,
                `the manifest's bytes have digest ${manifest.digest}, not the requested one`,
            );
        }
        if (served && isDigest(served) && served !== manifest.digest) {
            throw this.error(
                "digest-mismatch",
                call,
                reply.status,
                `the registry says the manifest is ${served} but its bytes have digest ${manifest.digest}`,
            );
        }
        if (!isDigest(reference)) this.manifestsByDigest.set(`${name.path}@${manifest.digest}`, Promise.resolve(manifest));
        return manifest;
    }

    /** One API call: ping once, authenticate (again on 401, once), retry transient failures. */
    private async request(call: Call): Promise<Reply> {
        await this.ping();
        let authorization = await this.authorization(call);
        let reply = await this.send(call, authorization);
        if (reply.status !== 401) return reply;
        // The first 401 of a repository teaches us the auth scheme (or that a token expired):
        // authenticate once more, from scratch. A second 401 is the user's problem.
        const challenge = this.learn(reply);
        if (!challenge) throw this.unauthorized(call, reply);
        this.tokens.delete(this.scope(call) ?? "");
        authorization = await this.authorization(call, challenge);
        if (authorization === undefined) throw this.unauthorized(call, reply);
        reply = await this.send(call, authorization);
        if (reply.status === 401) throw this.unauthorized(call, reply);
        return reply;
    }

    /** `GET /v2/` once per client: it tells whether and how the registry wants us to authenticate. */
    private ping(): Promise<void> {
        if (!this.pinged) {
            this.pinged = (async () => {
                const call: Call = { op: "ping", method: "GET", url: `${this.baseUrl}/v2/` };
                const reply = await this.send(call, undefined);
                if (reply.status === 401) this.learn(reply);
                else if (reply.status === 404) {
                    throw this.error(
                        "server",
                        call,
                        404,
                        `${this.baseUrl}/v2/ does not serve the Registry HTTP API v2; check registry.server in the stack config`,
                    );
                } else if (reply.status !== 200) throw this.statusError(call, reply);
            })();
            this.pinged.catch(() => (this.pinged = undefined));
        }
        return this.pinged;
    }

    /** Records what a 401's challenge asks for; returns the challenge we can answer. */
    private learn(reply: Reply): Challenge | undefined {
        const challenges = parseChallenges(reply.headers.get("www-authenticate") ?? "");
        const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
        if (bearer) {
            this.bearer = { realm: bearer.params.realm, service: bearer.params.service };
            return bearer;
        }
        const basic = challenges.find((c) => c.scheme === "basic");
        if (basic) {
            this.useBasic = true;
            return basic;
        }
        return undefined;
    }

    private scope(call: Call): string | undefined {
        return call.repository ? repositoryScope(call.repository.path, call.push) : undefined;
    }

    /** The Authorization header for a call, from what the registry asked for so far. */
    private async authorization(call: Call, challenge?: Challenge): Promise<string | undefined> {
        if (call.op === "ping") return undefined;
        if (this.bearer) {
            const scope = this.scope(call) ?? challenge?.params.scope;
            return `Bearer ${await this.token(scope, call)}`;
        }
        if (this.useBasic && this.credentials) return basicAuthorization(this.credentials);
        return undefined;
    }

    /** A token for a scope, from the cache while valid; concurrent callers share one request. */
    private token(scope: string | undefined, call: Call): Promise<string> {
        const key = scope ?? "";
        const cached = this.tokens.get(key);
        if (cached && cached.expiresAt > Date.now()) return cached.token;
        const entry = { token: this.fetchToken(scope, call), expiresAt: Number.POSITIVE_INFINITY };
        entry.token.then(
            () => undefined,
            () => this.tokens.get(key) === entry && this.tokens.delete(key),
        );
        this.tokens.set(key, entry);
        return entry.token;
    }

    private async fetchToken(scope: string | undefined, call: Call): Promise<string> {
        const bearer = this.bearer as { realm: string; service?: string };
        const url = new URL(bearer.realm);
        if (bearer.service) url.searchParams.set("service", bearer.service);
        if (scope) url.searchParams.append("scope", scope);
        if (this.credentials) url.searchParams.set("account", this.credentials.username);
        const tokenCall: Call = { op: "token", method: "GET", url: url.toString(), repository: call.repository, reference: call.reference };
        const reply = await this.send(tokenCall, this.credentials ? basicAuthorization(this.credentials) : undefined);
        if (reply.status === 401 || reply.status === 403) {
            const who = this.credentials ? `the credentials of user "${this.credentials.username}"` : "anonymous access";
            throw this.error(
                "unauthorized",
                tokenCall,
                reply.status,
                `the token service ${url.origin}${url.pathname} rejected ${who}${registryMessage(reply.body)}. ${this.credentialsAdvice()}`,
            );
        }
        if (reply.status !== 200) throw this.statusError(tokenCall, reply);
        const parsed = parseTokenResponse(this.json(tokenCall, reply));
        if (!parsed) throw this.error("malformed", tokenCall, reply.status, `the token service's answer has no "token" or "access_token"`);
        const entry = this.tokens.get(scope ?? "");
        if (entry) entry.expiresAt = Date.now() + Math.max(0, parsed.expiresInSeconds * 1000 - TOKEN_MARGIN_MS);
        return parsed.token;
    }

    /** Sends one call, retrying 429, 5xx, timeouts and network failures within the retry policy. */
    private async send(call: Call, authorization: string | undefined): Promise<Reply> {
        for (let attempt = 1; ; attempt++) {
            let reply: Reply | undefined;
            let failure: unknown;
            try {
                reply = await this.limiter.run(() => this.sendOnce(call, authorization));
            } catch (e) {
                if (!isTransient(e)) throw e;
                failure = e;
            }
            const retryable =
                failure !== undefined || (reply !== undefined && (reply.status === 429 || (reply.status >= 500 && reply.status !== 501)));
            if (!retryable) return reply as Reply;
            if (attempt >= this.retry.attempts) {
                if (failure !== undefined) throw this.transportError(call, failure, attempt);
                return reply as Reply; // statusError turns it into rate-limited / server
            }
            const backoff = this.retry.baseDelayMs * 2 ** (attempt - 1) * (0.8 + 0.4 * Math.random());
            const asked = reply?.status === 429 || reply?.status === 503 ? retryAfterMs(reply.headers.get("retry-after")) : undefined;
            await sleep(Math.min(this.retry.maxDelayMs, asked ?? backoff));
        }
    }

    private async sendOnce(call: Call, authorization: string | undefined): Promise<Reply> {
        this.counts[call.op]++;
        const headers: Record<string, string> = { "user-agent": this.userAgent, ...call.headers };
        if (authorization) headers.authorization = authorization;
        const signal = AbortSignal.timeout(this.timeoutMs);
        const res = await this.fetchImpl(call.url, { method: call.method, headers, body: call.body, signal, redirect: "follow" });
        const body = call.method === "HEAD" ? Buffer.alloc(0) : Buffer.from(await res.arrayBuffer());
        return { status: res.status, statusText: res.statusText, headers: res.headers, body };
    }

    private context(call: Call, status?: number): RegistryErrorContext {
        return {
            registry: this.server,
            ...(call.repository ? { repository: call.repository.path } : {}),
            ...(call.reference ? { reference: call.reference } : {}),
            ...(status !== undefined ? { status } : {}),
            ...(this.credentials ? { user: this.credentials.username } : {}),
        };
    }

    private error(kind: RegistryErrorKind, call: Call, status: number | undefined, what: string): RegistryError {
        const ctx = this.context(call, status);
        const http = status !== undefined ? `HTTP ${status} while ${DOING[call.op]}` : `while ${DOING[call.op]}`;
        return new RegistryError(kind, ctx, `${describeTarget(ctx)}: ${http}: ${what}`);
    }

    private credentialsAdvice(): string {
        return this.credentials
            ? `Check registry.username in the stack config and the password (\`pulumi config set --secret registryPassword\`); on Docker Hub use an access token that may read and write the repositories.`
            : `Set registry.username in the stack config and its password with \`pulumi config set --secret registryPassword\`.`;
    }

    private unauthorized(call: Call, reply: Reply): RegistryError {
        const who = this.credentials ? `user "${this.credentials.username}"` : "anonymous access";
        return this.error(
            "unauthorized",
            call,
            401,
            `the registry did not accept ${who}${registryMessage(reply.body)}. ${this.credentialsAdvice()}`,
        );
    }

    /** The error for an answer that is not what the call needed. */
    private statusError(call: Call, reply: Reply): RegistryError {
        const said = registryMessage(reply.body);
        const who = this.credentials ? `user "${this.credentials.username}"` : "anonymous access";
        switch (true) {
            case reply.status === 401:
                return this.unauthorized(call, reply);
            case reply.status === 403:
                return this.error(
                    "forbidden",
                    call,
                    403,
                    `${who} may not ${call.push ? "push to" : "pull from"} this repository${said}. Grant the user access to it, or use a user who has it.`,
                );
            case reply.status === 404:
                return this.error("not-found", call, 404, `not found${said}`);
            case reply.status === 429:
                return this.error(
                    "rate-limited",
                    call,
                    429,
                    `the registry is rate limiting us and still was after ${this.retry.attempts} attempts${said}. Wait a while and try again` +
                        (this.credentials ? "." : "; authenticated users get a higher limit (set registry.username and registryPassword)."),
                );
            case reply.status >= 500:
                return this.error(
                    "server",
                    call,
                    reply.status,
                    `the registry failed (${reply.statusText || "server error"}) ${this.retry.attempts} times${said}. Try again later; if it persists, check the registry's status.`,
                );
            default:
                return this.error("server", call, reply.status, `unexpected answer ${reply.status} ${reply.statusText}${said}`);
        }
    }

    private transportError(call: Call, failure: unknown, attempts: number): RegistryError {
        const url = new URL(call.url);
        const where = `${url.origin}${url.pathname}`;
        if (isTimeout(failure)) {
            return this.error(
                "timeout",
                call,
                undefined,
                `no answer from ${where} within ${this.timeoutMs} ms, ${attempts} times. Check the network, or try again later.`,
            );
        }
        return this.error(
            "unreachable",
            call,
            undefined,
            `the registry is unreachable at ${where} (${networkCause(failure)}; ${attempts} attempts). Check registry.server in the stack config and that the registry is running and reachable from this machine.`,
        );
    }

    private json(call: Call, reply: Reply): Record<string, unknown> {
        try {
            const value = JSON.parse(reply.body.toString("utf8")) as unknown;
            if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
        } catch {
            // reported below
        }
        const start = reply.body.toString("utf8", 0, Math.min(reply.body.length, 60)).replace(/\s+/g, " ");
        throw this.error(
            "malformed",
            call,
            reply.status,
            `the answer is not the JSON object it should be; it starts with ${JSON.stringify(start)}`,
        );
    }
}
