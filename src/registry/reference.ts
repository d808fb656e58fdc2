/**
 * Names of repositories as the Registry HTTP API v2 sees them: which server, which path, and
 * the base URL of the API. Docker Hub is special twice: its name (`docker.io`) is not the host
 * that serves the API (`registry-1.docker.io`), and one-component paths live under `library/`.
 */

/** The canonical name of Docker Hub. */
export const DOCKER_HUB = "docker.io";
/** The host that serves Docker Hub's Registry API. */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";
const DOCKER_HUB_ALIASES: readonly string[] = [DOCKER_HUB, "index.docker.io", DOCKER_HUB_API_HOST, "registry.hub.docker.com"];

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** A repository of one registry server, e.g. `{ server: "docker.io", path: "baseten/truss-server-base" }`. */
export interface RepositoryName {
    /** Canonical server name: `docker.io` for every Docker Hub alias, else `host[:port]` as given. */
    readonly server: string;
    /** The repository path inside the server, e.g. `baseten/truss-server-base`. */
    readonly path: string;
}

/** `docker.io` for any of Docker Hub's names, otherwise the server as given (lower-cased). */
export function canonicalServer(server: string): string {
    const s = server.toLowerCase();
    return DOCKER_HUB_ALIASES.includes(s) ? DOCKER_HUB : s;
}

/** Docker's rule: the first component is a server if it has a `.` or `:` or is `localhost`. */
function looksLikeServer(component: string): boolean {
    return component.includes(".") || component.includes(":") || component === "localhost";
}

/**
 * Parses a fully qualified repository such as `docker.io/baseten/truss-server-base` or
 * `localhost:5000/baseten/truss-server-base`. An unqualified one (`baseten/x`) is on Docker Hub.
 */
export function parseRepository(repository: string): RepositoryName {
    const parts = repository.split("/");
    const server = parts.length > 1 && looksLikeServer(parts[0]) ? canonicalServer(parts.shift() as string) : DOCKER_HUB;
    if (server === DOCKER_HUB && parts.length === 1) parts.unshift("library");
    if (parts.length === 0 || !parts.every((p) => PATH_COMPONENT.test(p))) {
        throw new Error(
            `"${repository}" is not a repository name: expected [server/]path with lower-case components, such as docker.io/baseten/truss-server-base`,
        );
    }
    return { server, path: parts.join("/") };
}

/** `docker.io/baseten/truss-server-base` */
export function formatRepository(name: RepositoryName): string {
    return `${name.server}/${name.path}`;
}

/** Whether a reference is a manifest digest (`sha256:<hex>`) rather than a tag. */
export function isDigest(reference: string): boolean {
    return DIGEST.test(reference);
}

/** `repo:tag` or `repo@sha256:...` */
export function imageRef(repository: string, reference: string): string {
    return isDigest(reference) ? `${repository}@${reference}` : `${repository}:${reference}`;
}

/**
 * Splits `server/path:tag` or `server/path@sha256:...` into its repository and reference.
 * The tag is what follows the last `:` after the last `/` (a port is never after a `/`).
 */
export function splitImageRef(ref: string): { repository: string; reference: string } {
    const at = ref.indexOf("@");
    if (at >= 0) return { repository: ref.slice(0, at), reference: ref.slice(at + 1) };
    const slash = ref.lastIndexOf("/");
    const colon = ref.lastIndexOf(":");
    if (colon > slash) return { repository: ref.slice(0, colon), reference: ref.slice(colon + 1) };
    throw new Error(`"${ref}" has no tag or digest: expected repository:tag or repository@sha256:...`);
}

/** Loopback registries speak plain HTTP (Docker treats them as insecure by default too). */
export function isLoopback(server: string): boolean {
    const host = server.startsWith("[") ? server.slice(0, server.indexOf("]") + 1) : server.split(":")[0];
    return host === "localhost" || host === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/** The base URL of the API, without the `/v2/`: `https://registry-1.docker.io`, `http://localhost:5000`. */
export function apiBaseUrl(server: string, scheme?: "http" | "https"): string {
    const canonical = canonicalServer(server);
    const host = canonical === DOCKER_HUB ? DOCKER_HUB_API_HOST : canonical;
    return `${scheme ?? (isLoopback(canonical) ? "http" : "https")}://${host}`;
}
