import { Credentials, KNOWN_TOKEN_REALM_HOSTS } from "./auth";
import { Authenticator } from "./authenticator";
import { CredentialsSource, GENERIC_CREDENTIALS } from "./advice";
import { RegistryError } from "./registryError";
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
import { jsonObjectOf, MessageContext, registryError, statusError, transportError, unauthorized } from "./messages";
import { apiBaseUrl, canonicalServer, formatRepository, isDigest, parseRepository, RepositoryName, splitImageRef } from "./reference";
import { Call, DEFAULT_RETRY, Fetch, Operation, Reply, retryableStatus, RetryPolicy, Transport, TransportError } from "./transport";

export type { Fetch, Operation, RetryPolicy } from "./transport";
export { DEFAULT_RETRY, retryDelayMs } from "./transport";

/** The deadline of one look-up (a call of this client: auth, retries and reading the body included). */
export const DEFAULT_TIMEOUT_SECONDS = 60;
export const DEFAULT_CONCURRENCY = 8;
/** The `n` of tag list requests: a page stays well under its size limit. */
export const DEFAULT_TAG_PAGE_SIZE = 1000;
/** The platform whose entry of an index holds the labels we read. */
export const DEFAULT_PLATFORM = "linux/amd64";
/**
 * How long a writer of a published tag waits, after its write and its read-back, before reading
 * the tag once more (src/registry/publish.ts): another writer's manifest PUT that was already on
 * its way when we checked the tag lands within this, or is not seen. A choice, not a measurement.
 */
export const DEFAULT_WRITE_SETTLE_MS = 2_000;

export interface RegistryClientOptions {
    /** As configured: `docker.io`, `localhost:5000`. */
    readonly server: string;
    /** Anonymous when absent (reads of public repositories). */
    readonly credentials?: Credentials;
    /** What the command's user must set to authenticate; named by every authentication error. */
    readonly credentialsSource?: CredentialsSource;
    /** Default: http for loopback servers, https otherwise. */
    readonly scheme?: "http" | "https";
    readonly fetch?: Fetch;
    /** The deadline of each look-up, in seconds (stack config `registryTimeoutSeconds`). */
    readonly timeoutSeconds?: number;
    readonly retry?: Partial<RetryPolicy>;
    /** At most this many requests in flight. */
    readonly concurrency?: number;
    readonly userAgent?: string;
    /**
     * Hosts of token services, besides the registry's own, that may receive its credentials
     * (stack config `registry.tokenRealmHosts`). Docker Hub's auth.docker.io is always one.
     */
    readonly tokenRealmHosts?: readonly string[];
    /** See DEFAULT_WRITE_SETTLE_MS. */
    readonly writeSettleMs?: number;
}

/**
 * One manifest PUT: the digest the registry stored, or the error and the answer (whose
 * Retry-After says how long to wait). Whether a failed write happened is unknown: only reading
 * the tag tells.
 */
export type ManifestWrite =
    | { readonly ok: true; readonly digest: string }
    | {
          readonly ok: false;
          readonly error: RegistryError;
          /** Whether asking again may help (429, 5xx, no answer); else the registry refused the write (e.g. an immutable tag). */
          readonly retryable: boolean;
          readonly reply?: Pick<Reply, "status" | "headers">;
      };

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

/** How many pages of tags we follow before deciding the registry's Link headers loop. */
const MAX_TAG_PAGES = 100_000;

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
 * registry): the API calls and what they cache. Sending (retries, deadline, size limits) is
 * transport.ts, token reuse tokens.ts, error wording messages.ts. Immutable content (manifests
 * and blobs by digest) and tokens are cached for the client's life; every failure is a
 * RegistryError that names what the user can do.
 */
export class RegistryClient {
    /** Canonical server name (`docker.io` for Docker Hub). */
    readonly server: string;
    /** `https://registry-1.docker.io` */
    readonly baseUrl: string;
    readonly timeoutSeconds: number;
    /** The retries of reads, and of a writer that checks the tag before each (src/registry/publish.ts). */
    readonly retry: RetryPolicy;
    readonly writeSettleMs: number;
    private readonly credentials?: Credentials;
    private readonly transport: Transport;
    private readonly messages: MessageContext;
    /** What the registry asked for so far, and the tokens it handed out (authenticator.ts). */
    private readonly auth: Authenticator;
    private pinged?: Promise<void>;
    private readonly manifestsByDigest = new Map<string, Promise<Manifest | undefined>>();
    private readonly configsByDigest = new Map<string, Promise<ImageConfig>>();

    constructor(options: RegistryClientOptions) {
        this.server = canonicalServer(options.server);
        this.baseUrl = apiBaseUrl(options.server, options.scheme);
        this.credentials = options.credentials;
        const own = [new URL(this.baseUrl).hostname, this.server.replace(/:\d+$/, "")];
        const realmHosts = [...new Set([...own, ...(KNOWN_TOKEN_REALM_HOSTS[this.server] ?? []), ...(options.tokenRealmHosts ?? [])])];
        this.timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
        const retry = { ...DEFAULT_RETRY, ...options.retry };
        this.retry = retry;
        this.writeSettleMs = options.writeSettleMs ?? DEFAULT_WRITE_SETTLE_MS;
        this.transport = new Transport({
            fetch: options.fetch ?? fetch,
            retry,
            concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
            userAgent: options.userAgent ?? "truss-base-images",
        });
        this.messages = {
            server: this.server,
            credentials: this.credentials,
            source: options.credentialsSource ?? GENERIC_CREDENTIALS,
            retry,
        };
        this.auth = new Authenticator({
            credentials: this.credentials,
            realmHosts,
            messages: this.messages,
            send: (call, authorization, deadline) => this.send(call, authorization, deadline),
        });
    }

    /** Requests sent so far. */
    get stats(): RequestStats {
        const byOperation = { ...this.transport.counts };
        return { requests: Object.values(byOperation).reduce((a, b) => a + b, 0), byOperation };
    }

    /** The user this client authenticates as, for messages (never the password). */
    get user(): string | undefined {
        return this.credentials?.username;
    }

    /**
     * The tags of a repository that `keep` accepts (all when absent), following
     * `Link: <...>; rel="next"` pages of `pageSize` tags. A repository that does not exist (404)
     * has nothing published: an empty list. Only kept tags are held in memory.
     */
    async listTags(repository: string, opts: { pageSize?: number; keep?: (tag: string) => boolean } = {}): Promise<string[]> {
        const name = this.repositoryName(repository);
        let url = `${this.baseUrl}/v2/${name.path}/tags/list?n=${opts.pageSize ?? DEFAULT_TAG_PAGE_SIZE}`;
        const tags: string[] = [];
        const visited = new Set<string>();
        for (let page = 0; page < MAX_TAG_PAGES; page++) {
            visited.add(url);
            const call: Call = { op: "tags", method: "GET", url, repository: name };
            const reply = await this.request(call);
            if (reply.status === 404 && page === 0) return [];
            if (reply.status !== 200) throw statusError(this.messages, call, reply);
            const body = jsonObjectOf(this.messages, call, reply) as { tags?: unknown };
            // No "tags" key, or null: a page without tags. The list is only ever a hint (see classify).
            const list = body.tags ?? [];
            if (!Array.isArray(list))
                throw registryError(this.messages, "malformed", call, reply.status, `the tag list's "tags" is not a list`);
            for (const tag of list) {
                if (typeof tag !== "string")
                    throw registryError(this.messages, "malformed", call, reply.status, `the tag list's "tags" holds a non-string`);
                if (!opts.keep || opts.keep(tag)) tags.push(tag);
            }
            const next = nextLink(reply.headers.get("link"), url);
            if (!next) return tags;
            if (new URL(next).origin !== new URL(this.baseUrl).origin) {
                throw registryError(
                    this.messages,
                    "malformed",
                    call,
                    reply.status,
                    `the tag list links its next page to another host (${new URL(next).origin})`,
                );
            }
            if (visited.has(next))
                throw registryError(
                    this.messages,
                    "malformed",
                    call,
                    reply.status,
                    `the tag list's next page is a page already read (${next})`,
                );
            url = next;
        }
        throw registryError(
            this.messages,
            "malformed",
            { op: "tags", repository: name },
            undefined,
            `the tag list has more than ${MAX_TAG_PAGES} pages`,
        );
    }

    /**
     * A manifest by tag or digest, or undefined if the registry has none. Verified against its
     * digest. `push`: read with the push scope (a writer's check, so that the write needs no
     * other token).
     */
    async getManifest(repository: string, reference: string, opts: { push?: boolean } = {}): Promise<Manifest | undefined> {
        const name = this.repositoryName(repository);
        if (isDigest(reference)) return this.manifestByDigest(name, reference, opts.push);
        return this.fetchManifest(name, reference, opts.push ?? false);
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
        if (reply.status !== 200) throw statusError(this.messages, call, reply);
        const digest = reply.headers.get("docker-content-digest");
        const mediaType = reply.headers.get("content-type")?.split(";")[0].trim();
        if (!digest || !isDigest(digest) || !mediaType) {
            // Registries need not send the digest on HEAD: read the manifest instead.
            const m = await this.getManifest(repository, reference);
            return m && { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
        }
        return { digest, mediaType, size: Number(reply.headers.get("content-length") ?? 0) };
    }

    /** A blob's bytes (at most a config blob's size limit), verified against its digest. */
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
            throw registryError(
                this.messages,
                "not-found",
                call,
                404,
                `the blob is missing although a manifest references it; the repository is damaged, push the image again`,
            );
        }
        if (reply.status !== 200) throw statusError(this.messages, call, reply);
        const actual = sha256Digest(reply.body);
        if (actual !== digest)
            throw registryError(
                this.messages,
                "digest-mismatch",
                call,
                reply.status,
                `the blob's content has digest ${actual}, not ${digest}`,
            );
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
                    throw registryError(this.messages, "malformed", { op: "blob", repository: name, reference: digest }, 200, e.message);
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
            throw registryError(
                this.messages,
                "not-found",
                { op: "manifest", repository: name, reference: entry.digest },
                404,
                `the ${platform} manifest of index ${manifest.digest} is missing; push the image again`,
            );
        }
        return child.kind === "image" ? child : undefined;
    }

    /**
     * PUTs manifest bytes under a tag, exactly as given, once, and returns their digest, after
     * checking that the registry stored the same digest. Never repeated: see writeManifest.
     */
    async putManifest(repository: string, tag: string, bytes: Buffer, mediaType: string): Promise<string> {
        const write = await this.writeManifest(repository, tag, bytes, mediaType);
        if (!write.ok) throw write.error;
        return write.digest;
    }

    /**
     * One manifest PUT (see ManifestWrite). The transport never repeats it: a second PUT of a
     * tag is safe only after reading what the tag holds by then, which publishTag does.
     */
    async writeManifest(repository: string, tag: string, bytes: Buffer, mediaType: string): Promise<ManifestWrite> {
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
        let reply: Reply;
        try {
            reply = await this.request(call);
        } catch (e) {
            if (e instanceof RegistryError && (e.kind === "unreachable" || e.kind === "timeout"))
                return { ok: false, error: e, retryable: true };
            throw e;
        }
        if (reply.status !== 201 && reply.status !== 200 && reply.status !== 202) {
            return { ok: false, error: statusError(this.messages, call, reply), retryable: retryableStatus(reply.status), reply };
        }
        const digest = sha256Digest(bytes);
        const stored = reply.headers.get("docker-content-digest");
        if (stored && stored !== digest) {
            throw registryError(
                this.messages,
                "digest-mismatch",
                call,
                reply.status,
                `the registry stored the manifest as ${stored} but its bytes have digest ${digest}`,
            );
        }
        this.manifestsByDigest.set(`${name.path}@${digest}`, Promise.resolve(parseManifest(bytes, mediaType)));
        return { ok: true, digest };
    }

    /**
     * Copies a manifest to another tag of the same repository: the same bytes and media type,
     * so the new tag has the same digest (what `crane copy` does within a repository). The
     * source is a tag, a digest, or a full reference into the same repository. With
     * `expectedDigest`, the source must still be that manifest.
     */
    async copyTag(repository: string, sourceRef: string, targetTag: string, opts: { expectedDigest?: string } = {}): Promise<ManifestHead> {
        const name = this.repositoryName(repository);
        const manifest = await this.readSource(repository, sourceRef, opts.expectedDigest);
        const digest = await this.putManifest(repository, targetTag, manifest.bytes, manifest.mediaType);
        if (digest !== manifest.digest) {
            throw registryError(
                this.messages,
                "digest-mismatch",
                { op: "put-manifest", repository: name, reference: targetTag },
                undefined,
                `the copy has digest ${digest}, not the source's ${manifest.digest}`,
            );
        }
        return { digest, mediaType: manifest.mediaType, size: manifest.bytes.length };
    }

    /**
     * The manifest a copy starts from (read with the push scope, which the write needs anyway):
     * it must exist and, with `expectedDigest`, still be that manifest.
     */
    async readSource(repository: string, sourceRef: string, expectedDigest?: string): Promise<Manifest> {
        const name = this.repositoryName(repository);
        const source = this.referenceIn(name, sourceRef);
        const manifest = isDigest(source) ? await this.manifestByDigest(name, source, true) : await this.fetchManifest(name, source, true);
        const where = { op: "manifest", repository: name, reference: source } as const;
        if (!manifest)
            throw registryError(this.messages, "not-found", where, 404, `the source of the copy no longer exists; run the preview again`);
        if (expectedDigest && manifest.digest !== expectedDigest) {
            throw registryError(
                this.messages,
                "digest-mismatch",
                where,
                200,
                `the source now has digest ${manifest.digest}, not ${expectedDigest} as planned; run the preview again`,
            );
        }
        return manifest;
    }

    /** A RegistryError about a repository and tag of this client, worded like the others. */
    error(kind: RegistryError["kind"], repository: string, reference: string | undefined, what: string): RegistryError {
        return registryError(
            this.messages,
            kind,
            { op: "manifest", repository: this.repositoryName(repository), reference },
            undefined,
            what,
        );
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
        if (reply.status !== 200) throw statusError(this.messages, call, reply);
        let manifest: Manifest;
        try {
            manifest = parseManifest(reply.body, reply.headers.get("content-type") ?? undefined);
        } catch (e) {
            if (e instanceof MalformedError) throw registryError(this.messages, "malformed", call, reply.status, e.message);
            throw e;
        }
        const served = reply.headers.get("docker-content-digest");
        if (isDigest(reference) && manifest.digest !== reference) {
            throw registryError(
                this.messages,
                "digest-mismatch",
                call,
                reply.status,
                `the manifest's bytes have digest ${manifest.digest}, not the requested one`,
            );
        }
        if (served && isDigest(served) && served !== manifest.digest) {
            throw registryError(
                this.messages,
                "digest-mismatch",
                call,
                reply.status,
                `the registry says the manifest is ${served} but its bytes have digest ${manifest.digest}`,
            );
        }
        if (!isDigest(reference)) this.manifestsByDigest.set(`${name.path}@${manifest.digest}`, Promise.resolve(manifest));
        return manifest;
    }

    /** One look-up: ping once, authenticate (again on 401, once), all within the deadline. */
    private async request(call: Call): Promise<Reply> {
        const deadline = Date.now() + this.timeoutSeconds * 1000;
        await this.ping();
        let authorization = await this.auth.authorization(call, deadline);
        let reply = await this.send(call, authorization, deadline);
        if (reply.status !== 401) return reply;
        // The first 401 of a repository teaches us the auth scheme (or that a token expired):
        // authenticate once more, from scratch. A second 401 is the user's problem.
        const challenge = this.auth.learn(reply);
        if (!challenge) throw unauthorized(this.messages, call, reply);
        this.auth.forget(call);
        authorization = await this.auth.authorization(call, deadline, challenge);
        if (authorization === undefined) throw unauthorized(this.messages, call, reply);
        reply = await this.send(call, authorization, deadline);
        if (reply.status === 401) throw unauthorized(this.messages, call, reply);
        return reply;
    }

    private async send(call: Call, authorization: string | undefined, deadline: number): Promise<Reply> {
        try {
            return await this.transport.send(call, authorization, deadline, this.timeoutSeconds);
        } catch (e) {
            if (e instanceof TransportError) throw transportError(this.messages, e.call, e.failure);
            throw e;
        }
    }

    /** `GET /v2/` once per client: it tells whether and how the registry wants us to authenticate. */
    private ping(): Promise<void> {
        if (!this.pinged) {
            this.pinged = (async () => {
                const call: Call = { op: "ping", method: "GET", url: `${this.baseUrl}/v2/` };
                const reply = await this.send(call, undefined, Date.now() + this.timeoutSeconds * 1000);
                if (reply.status === 401) this.auth.learn(reply);
                else if (reply.status === 200) this.auth.opened();
                else if (reply.status === 404) {
                    throw registryError(
                        this.messages,
                        "server",
                        call,
                        404,
                        `${this.baseUrl}/v2/ does not serve the Registry HTTP API v2; check registry.server in the stack config`,
                    );
                } else if (reply.status !== 200) throw statusError(this.messages, call, reply);
            })();
            this.pinged.catch(() => (this.pinged = undefined));
        }
        return this.pinged;
    }
}
