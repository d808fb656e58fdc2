// A loopback HTTP proxy in front of a real test registry, for behaviour Debian's registry
// (distribution 2.8) does not have or that we want to force: tag list pagination the way
// distribution 3 and Docker Hub do it (`n`, `last`, `Link: <...>; rel="next"`), injected
// faults (429 with Retry-After, 5xx, malformed bodies, answered instead of the registry or after
// it handled the request), delays, and an independent request log.
import * as http from "http";
import type { AddressInfo } from "net";

export interface ProxiedRequest {
    readonly method: string;
    /** Path and query, e.g. /v2/baseten/truss-server-base/tags/list?n=2 */
    readonly path: string;
    /** Whether an injected fault answered it (the registry never saw it, unless `afterForwarding`). */
    readonly faulted: boolean;
    /** A fault answered it after the registry had handled it (e.g. stored a manifest). */
    readonly afterForwarding?: boolean;
}

export interface Fault {
    /** Which requests it answers, e.g. (r) => r.method === "GET" && r.path.includes("/tags/list"). */
    readonly match: (req: { method: string; path: string }) => boolean;
    readonly status: number;
    readonly headers?: Record<string, string>;
    readonly body?: string;
    /** How many matching requests it answers before it lets them through; Infinity for all. */
    times: number;
    /** Answer only this share of the matching requests (drawn from the proxy's `random`); all when absent. */
    readonly chance?: number;
    /** Let the registry handle the request first, then answer the fault instead of the registry's answer. */
    readonly afterForwarding?: boolean;
}

/** Holds matching requests for `ms()` milliseconds before they are answered or forwarded. */
export interface Delay {
    readonly match: (req: { method: string; path: string }) => boolean;
    readonly ms: () => number;
}

export interface RegistryProxy {
    /** http://127.0.0.1:PORT */
    readonly url: string;
    /** 127.0.0.1:PORT */
    readonly host: string;
    readonly requests: ProxiedRequest[];
    readonly faults: Fault[];
    readonly delays: Delay[];
    stop(): Promise<void>;
}

export interface ProxyOptions {
    /** The registry's URL, e.g. http://127.0.0.1:5000 */
    readonly target: string;
    /** Paginate tag lists with this default page size (the client may ask for another with `n`). */
    readonly tagPageSize?: number;
    /** Delay every request by this long before answering it (a distant registry's round trip). */
    readonly latencyMs?: number;
    /** What decides a fault's `chance`: a seeded generator makes a run repeatable. Default Math.random. */
    readonly random?: () => number;
}

const TAGS_PATH = /^\/v2\/(.+)\/tags\/list$/;

/** Applies `n` and `last` to a full tag list, as distribution 3 does: sorted, after `last`, at most n. */
function page(all: string[], n: number, last: string | null): { tags: string[]; more: boolean } {
    const sorted = [...all].sort();
    const rest = last ? sorted.filter((t) => t > last) : sorted;
    return { tags: rest.slice(0, n), more: rest.length > n };
}

export async function startRegistryProxy(opts: ProxyOptions): Promise<RegistryProxy> {
    const target = new URL(opts.target);
    const requests: ProxiedRequest[] = [];
    const faults: Fault[] = [];
    const delays: Delay[] = [];
    const random = opts.random ?? Math.random;
    const server = http.createServer((req, res) => {
        const request = { method: req.method ?? "GET", path: req.url ?? "/" };
        const delay = (opts.latencyMs ?? 0) + delays.filter((d) => d.match(request)).reduce((sum, d) => sum + d.ms(), 0);
        if (delay > 0) {
            req.pause();
            setTimeout(() => handle(req, res), delay);
        } else handle(req, res);
    });
    function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
        const path = req.url ?? "/";
        const method = req.method ?? "GET";
        const fault = faults.find((f) => f.times > 0 && f.match({ method, path }) && (f.chance === undefined || random() < f.chance));
        const answerFault = (): void => {
            res.writeHead(fault!.status, { "content-type": "application/json", ...fault!.headers });
            res.end(fault!.body ?? "");
        };
        if (fault) {
            fault.times--;
            requests.push({ method, path, faulted: true, ...(fault.afterForwarding ? { afterForwarding: true } : {}) });
            if (!fault.afterForwarding) {
                req.resume();
                answerFault();
                return;
            }
        } else requests.push({ method, path, faulted: false });
        const url = new URL(path, target);
        const tagMatch = opts.tagPageSize !== undefined && method === "GET" ? TAGS_PATH.exec(url.pathname) : null;
        const upstreamPath = tagMatch ? url.pathname : path;
        const upstream = http.request(
            { host: target.hostname, port: target.port, method, path: upstreamPath, headers: { ...req.headers, host: target.host } },
            (up) => {
                if (fault) {
                    up.resume();
                    up.on("end", answerFault);
                    return;
                }
                if (!tagMatch || up.statusCode !== 200) {
                    res.writeHead(up.statusCode ?? 502, up.headers);
                    up.pipe(res);
                    return;
                }
                const chunks: Buffer[] = [];
                up.on("data", (c: Buffer) => chunks.push(c));
                up.on("end", () => {
                    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { name: string; tags: string[] | null };
                    const n = Number(url.searchParams.get("n") ?? opts.tagPageSize);
                    const p = page(body.tags ?? [], n, url.searchParams.get("last"));
                    const headers: Record<string, string> = { "content-type": "application/json" };
                    if (p.more) {
                        const next = new URLSearchParams({ n: String(n), last: p.tags[p.tags.length - 1] });
                        headers.link = `</v2/${tagMatch[1]}/tags/list?${next}>; rel="next"`;
                    }
                    res.writeHead(200, headers);
                    res.end(JSON.stringify({ name: body.name, tags: p.tags }));
                });
            },
        );
        upstream.on("error", (e) => {
            res.writeHead(502, { "content-type": "text/plain" });
            res.end(`proxy: ${e.message}`);
        });
        req.pipe(upstream);
    }
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    return {
        url: `http://127.0.0.1:${port}`,
        host: `127.0.0.1:${port}`,
        requests,
        faults,
        delays,
        stop: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}
