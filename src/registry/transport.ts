import type { RepositoryName } from "./reference";

/** The transport: Node's fetch. Injectable only so that tests can send a public host's traffic to loopback. */
export type Fetch = typeof fetch;

export type Operation = "ping" | "token" | "tags" | "manifest" | "blob" | "put-manifest";

/** Retries of 429, 5xx and network failures, within the call's deadline. `attempts` counts the first try. */
export interface RetryPolicy {
    readonly attempts: number;
    /** Backoff before retry n is base * 2^(n-1), with +-20% jitter, at most maxDelayMs. */
    readonly baseDelayMs: number;
    /** The cap on any wait, including one asked for by Retry-After. */
    readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 500, maxDelayMs: 10_000 };

/**
 * The most bytes each kind of answer may have. A manifest or a config blob is a few KB; a page
 * of at most 1,000 tags of at most 128 characters is under 200 KB. Anything larger is not what
 * we asked for, and is refused before it is read whole.
 */
export const BODY_LIMITS: Readonly<Record<Operation, number>> = {
    ping: 64 * 1024,
    token: 64 * 1024,
    tags: 8 * 1024 * 1024,
    manifest: 4 * 1024 * 1024,
    blob: 8 * 1024 * 1024,
    "put-manifest": 64 * 1024,
};

const WHAT: Readonly<Record<Operation, string>> = {
    ping: "an API check",
    token: "a token",
    tags: "a page of tags",
    manifest: "a manifest",
    blob: "a config blob",
    "put-manifest": "the answer to a manifest write",
};

/** One HTTP request of the API. */
export interface Call {
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

export interface Reply {
    readonly status: number;
    readonly statusText: string;
    readonly headers: Headers;
    readonly body: Buffer;
}

/** Why a call got no usable answer at the transport level; the client words it for the user. */
export type TransportFailure =
    | { readonly kind: "no-answer"; readonly seconds: number; readonly attempts: number }
    | { readonly kind: "stalled"; readonly seconds: number; readonly status: number; readonly bytes: number }
    | { readonly kind: "too-large"; readonly limit: number; readonly what: string; readonly status: number }
    | { readonly kind: "unreachable"; readonly cause: string; readonly attempts: number };

export class TransportError extends Error {
    constructor(
        readonly call: Call,
        readonly failure: TransportFailure,
    ) {
        super(failure.kind);
    }
}

/** At most `max` functions running at once; the others wait in order, `first` ones ahead of the rest. */
export class Limiter {
    private active = 0;
    private readonly waiting: (() => void)[] = [];
    private firsts = 0;
    constructor(private readonly max: number) {}
    async run<T>(f: () => Promise<T>, first = false): Promise<T> {
        if (this.active >= this.max) {
            await new Promise<void>((resolve) => {
                if (first) this.waiting.splice(this.firsts++, 0, resolve);
                else this.waiting.push(resolve);
            });
        }
        this.active++;
        try {
            return await f();
        } finally {
            this.active--;
            const next = this.waiting.shift();
            if (next && this.firsts > 0) this.firsts--;
            next?.();
        }
    }
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** `connect ECONNREFUSED 127.0.0.1:5000` from undici's `fetch failed` wrapper. */
function networkCause(e: unknown): string {
    let cause = (e as { cause?: unknown })?.cause as { code?: string; message?: string; errors?: { message?: string }[] } | undefined;
    if (cause && !cause.message && cause.errors?.length) cause = cause.errors[0] as typeof cause;
    return cause?.message || cause?.code || (e as Error)?.message || String(e);
}

function isNetworkFailure(e: unknown): boolean {
    return e instanceof TypeError && /fetch failed|terminated|socket|other side closed/i.test((e as Error).message ?? "");
}

/**
 * How long to wait before retry `attempt` (1 for the first retry): what a 429 or 503 asked for
 * in Retry-After, else exponential backoff with jitter; never more than the policy's maxDelayMs.
 */
export function retryDelayMs(retry: RetryPolicy, attempt: number, reply?: Pick<Reply, "status" | "headers">): number {
    const backoff = retry.baseDelayMs * 2 ** (attempt - 1) * (0.8 + 0.4 * Math.random());
    const asked = reply?.status === 429 || reply?.status === 503 ? retryAfterMs(reply.headers.get("retry-after")) : undefined;
    return Math.min(retry.maxDelayMs, asked ?? backoff);
}

/** Whether an answer is worth asking again for: 429, or a 5xx other than 501 (not implemented). */
export function retryableStatus(status: number): boolean {
    return status === 429 || (status >= 500 && status !== 501);
}

function retryAfterMs(header: string | null): number | undefined {
    if (!header) return undefined;
    const seconds = Number(header);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const at = Date.parse(header);
    return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export interface TransportOptions {
    readonly fetch: Fetch;
    readonly retry: RetryPolicy;
    readonly concurrency: number;
    readonly userAgent: string;
}

/**
 * Sends calls: at most `concurrency` in flight, 429/5xx/network failures of reads retried with
 * capped backoff (writes are sent once), everything (retries, waits and reading the body) inside the caller's deadline, and
 * every body read with the size limit of what it is. It counts the requests it sends.
 */
export class Transport {
    readonly counts: Record<Operation, number> = { ping: 0, token: 0, tags: 0, manifest: 0, blob: 0, "put-manifest": 0 };
    private readonly limiter: Limiter;

    constructor(private readonly options: TransportOptions) {
        this.limiter = new Limiter(Math.max(1, options.concurrency));
    }

    get retry(): RetryPolicy {
        return this.options.retry;
    }

    /**
     * Sends one call until it has an answer worth returning, or throws a TransportError. `deadline` is epoch ms.
     * A PUT is sent once, never again here: whether writing a tag again is safe depends on what the
     * tag holds by then (another writer may have published it), which only the writer can check
     * (src/registry/publish.ts). It goes ahead of queued reads, so that nothing of ours stands
     * between that writer's check and its write.
     */
    async send(call: Call, authorization: string | undefined, deadline: number, deadlineSeconds: number): Promise<Reply> {
        const { retry } = this.options;
        const write = call.method === "PUT";
        const attempts = write ? 1 : retry.attempts;
        for (let attempt = 1; ; attempt++) {
            const remaining = deadline - Date.now();
            if (remaining <= 0) throw new TransportError(call, { kind: "no-answer", seconds: deadlineSeconds, attempts: attempt - 1 });
            let reply: Reply | undefined;
            let failure: unknown;
            try {
                reply = await this.limiter.run(() => this.sendOnce(call, authorization, deadline, deadlineSeconds), write);
            } catch (e) {
                if (e instanceof TransportError) throw e;
                if (!isNetworkFailure(e)) throw e;
                failure = e;
            }
            const retryable = failure !== undefined || (reply !== undefined && retryableStatus(reply.status));
            if (!retryable) return reply as Reply;
            const wait = retryDelayMs(retry, attempt, reply);
            if (attempt >= attempts || Date.now() + wait >= deadline) {
                if (failure !== undefined)
                    throw new TransportError(call, { kind: "unreachable", cause: networkCause(failure), attempts: attempt });
                return reply as Reply; // the client turns it into rate-limited / server
            }
            await sleep(wait);
        }
    }

    private async sendOnce(call: Call, authorization: string | undefined, deadline: number, deadlineSeconds: number): Promise<Reply> {
        this.counts[call.op]++;
        const headers: Record<string, string> = { "user-agent": this.options.userAgent, ...call.headers };
        if (authorization) headers.authorization = authorization;
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), Math.max(0, deadline - Date.now()));
        let status: number | undefined;
        let bytes = 0;
        try {
            const res = await this.options.fetch(call.url, {
                method: call.method,
                headers,
                body: call.body,
                signal: controller.signal,
                redirect: "follow",
            });
            status = res.status;
            const limit = BODY_LIMITS[call.op];
            const tooLarge = (): TransportError =>
                new TransportError(call, { kind: "too-large", limit, what: WHAT[call.op], status: res.status });
            if (call.method === "HEAD" || !res.body) {
                await res.body?.cancel().catch(() => undefined);
                return { status: res.status, statusText: res.statusText, headers: res.headers, body: Buffer.alloc(0) };
            }
            const declared = Number(res.headers.get("content-length") ?? NaN);
            if (Number.isFinite(declared) && declared > limit) {
                await res.body.cancel().catch(() => undefined);
                throw tooLarge();
            }
            const chunks: Buffer[] = [];
            const reader = res.body.getReader();
            for (;;) {
                const { done, value } = await reader.read();
                if (done) break;
                bytes += value.byteLength;
                if (bytes > limit) {
                    await reader.cancel().catch(() => undefined);
                    throw tooLarge();
                }
                chunks.push(Buffer.from(value));
            }
            return { status: res.status, statusText: res.statusText, headers: res.headers, body: Buffer.concat(chunks) };
        } catch (e) {
            if (controller.signal.aborted && !(e instanceof TransportError)) {
                throw new TransportError(
                    call,
                    status === undefined
                        ? { kind: "no-answer", seconds: deadlineSeconds, attempts: 1 }
                        : { kind: "stalled", seconds: deadlineSeconds, status, bytes },
                );
            }
            throw e;
        } finally {
            clearTimeout(timer);
        }
    }
}
