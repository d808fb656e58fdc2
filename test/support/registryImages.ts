// Seeds a test registry with small images through the HTTP API directly (no Docker daemon),
// written independently of src/registry so that the client is checked, not echoed:
// one gzip layer, a config blob with the labels, a Docker v2 or OCI manifest, optionally
// wrapped in an index with an attestation entry beside the linux/amd64 one.
import { createHash } from "crypto";
import { gzipSync } from "zlib";

export interface Seeder {
    /** http://127.0.0.1:PORT */
    readonly url: string;
    /** For registries with basic or token auth. */
    readonly credentials?: { username: string; password: string };
}

export interface SeedImage {
    readonly labels: Record<string, string>;
    readonly format?: "docker" | "oci";
    /** Wrap the image in an index (OCI) / manifest list (Docker), next to an attestation entry. */
    readonly index?: boolean;
    /** The content of the one layer's file (distinguishes images with equal labels). */
    readonly layerText?: string;
    /** The config's architecture (os is linux); amd64 when absent. */
    readonly architecture?: string;
}

export interface SeededManifest {
    readonly digest: string;
    readonly mediaType: string;
    readonly bytes: Buffer;
}

const TYPES = {
    docker: {
        manifest: "application/vnd.docker.distribution.manifest.v2+json",
        index: "application/vnd.docker.distribution.manifest.list.v2+json",
        config: "application/vnd.docker.container.image.v1+json",
        layer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
    },
    oci: {
        manifest: "application/vnd.oci.image.manifest.v1+json",
        index: "application/vnd.oci.image.index.v1+json",
        config: "application/vnd.oci.image.config.v1+json",
        layer: "application/vnd.oci.image.layer.v1.tar+gzip",
    },
} as const;

export function sha256(bytes: Buffer): string {
    return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A one-file tar archive (ustar), enough for a registry: it never looks inside layers. */
function tarOf(name: string, content: Buffer): Buffer {
    const header = Buffer.alloc(512);
    header.write(name, 0, 100, "utf8");
    header.write("0000644\0", 100);
    header.write("0000000\0", 108);
    header.write("0000000\0", 116);
    header.write(content.length.toString(8).padStart(11, "0") + "\0", 124);
    header.write("00000000000\0", 136);
    header.write("        ", 148);
    header.write("0", 156);
    header.write("ustar\0", 257);
    header.write("00", 263);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
    return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

/** Fetch that answers a basic or bearer challenge with the seeder's credentials. */
async function authedFetch(seeder: Seeder, url: string, init: RequestInit, scope: string): Promise<Response> {
    const first = await fetch(url, init);
    if (first.status !== 401 || !seeder.credentials) return first;
    await first.arrayBuffer();
    const challenge = first.headers.get("www-authenticate") ?? "";
    const basic = `Basic ${Buffer.from(`${seeder.credentials.username}:${seeder.credentials.password}`).toString("base64")}`;
    let authorization = basic;
    if (/^bearer/i.test(challenge)) {
        const realm = /realm="([^"]+)"/.exec(challenge)?.[1] as string;
        const service = /service="([^"]+)"/.exec(challenge)?.[1];
        const tokenUrl = new URL(realm);
        if (service) tokenUrl.searchParams.set("service", service);
        tokenUrl.searchParams.set("scope", scope);
        const t = await fetch(tokenUrl, { headers: { authorization: basic } });
        if (t.status !== 200) throw new Error(`seeding: token request failed with ${t.status}`);
        authorization = `Bearer ${((await t.json()) as { token: string }).token}`;
    }
    return fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), authorization } });
}

async function expectStatus(res: Response, what: string, ...ok: number[]): Promise<Response> {
    if (!ok.includes(res.status)) throw new Error(`seeding: ${what} answered ${res.status}: ${await res.text()}`);
    return res;
}

export async function uploadBlob(seeder: Seeder, repo: string, bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const scope = `repository:${repo}:pull,push`;
    const head = await authedFetch(seeder, `${seeder.url}/v2/${repo}/blobs/${digest}`, { method: "HEAD" }, scope);
    if (head.status === 200) return digest;
    const start = await expectStatus(
        await authedFetch(seeder, `${seeder.url}/v2/${repo}/blobs/uploads/`, { method: "POST" }, scope),
        "blob upload start",
        202,
    );
    await start.arrayBuffer();
    const location = new URL(start.headers.get("location") as string, seeder.url);
    location.searchParams.set("digest", digest);
    const put = await authedFetch(
        seeder,
        location.toString(),
        { method: "PUT", body: bytes, headers: { "content-type": "application/octet-stream" } },
        scope,
    );
    await expectStatus(put, "blob upload", 201);
    await put.arrayBuffer();
    return digest;
}

export async function putManifest(
    seeder: Seeder,
    repo: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
): Promise<SeededManifest> {
    const res = await authedFetch(
        seeder,
        `${seeder.url}/v2/${repo}/manifests/${reference}`,
        { method: "PUT", body: bytes, headers: { "content-type": mediaType } },
        `repository:${repo}:pull,push`,
    );
    await expectStatus(res, `manifest PUT ${repo}:${reference}`, 201);
    await res.arrayBuffer();
    return { digest: sha256(bytes), mediaType, bytes };
}

/** Uploads an image's blobs and returns its manifest bytes (not yet PUT). */
async function imageManifest(seeder: Seeder, repo: string, image: SeedImage): Promise<Buffer> {
    const t = TYPES[image.format ?? "docker"];
    const layerTar = tarOf("truss.txt", Buffer.from(image.layerText ?? JSON.stringify(image.labels)));
    const layer = gzipSync(layerTar);
    const config = Buffer.from(
        JSON.stringify({
            architecture: image.architecture ?? "amd64",
            os: "linux",
            config: { Labels: image.labels },
            rootfs: { type: "layers", diff_ids: [sha256(layerTar)] },
        }),
    );
    const [configDigest, layerDigest] = await Promise.all([uploadBlob(seeder, repo, config), uploadBlob(seeder, repo, layer)]);
    return Buffer.from(
        JSON.stringify({
            schemaVersion: 2,
            mediaType: t.manifest,
            config: { mediaType: t.config, digest: configDigest, size: config.length },
            layers: [{ mediaType: t.layer, digest: layerDigest, size: layer.length }],
        }),
    );
}

/** Pushes a small image with these labels under `repo:tag` and returns its manifest. */
export async function pushImage(seeder: Seeder, repo: string, tag: string, image: SeedImage): Promise<SeededManifest> {
    const t = TYPES[image.format ?? "docker"];
    const manifest = await imageManifest(seeder, repo, image);
    if (!image.index) return putManifest(seeder, repo, tag, manifest, t.manifest);
    const child = await putManifest(seeder, repo, sha256(manifest), manifest, t.manifest);
    // An attestation-like entry first, so that a client picking the first entry would be wrong.
    const attestation = await imageManifest(seeder, repo, {
        labels: {},
        format: image.format,
        layerText: `attestation of ${child.digest}`,
    });
    const other = await putManifest(seeder, repo, sha256(attestation), attestation, t.manifest);
    const entries = [
        { mediaType: t.manifest, digest: other.digest, size: other.bytes.length, platform: { os: "unknown", architecture: "unknown" } },
        { mediaType: t.manifest, digest: child.digest, size: manifest.length, platform: { os: "linux", architecture: "amd64" } },
    ];
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: t.index, manifests: entries }, null, 2));
    return putManifest(seeder, repo, tag, index, t.index);
}

/** The manifest bytes a tag serves (undefined if absent), read without the client under test. */
export async function rawManifest(seeder: Seeder, repo: string, reference: string): Promise<SeededManifest | undefined> {
    const accept = [TYPES.oci.index, TYPES.docker.index, TYPES.oci.manifest, TYPES.docker.manifest].join(", ");
    const res = await authedFetch(
        seeder,
        `${seeder.url}/v2/${repo}/manifests/${reference}`,
        { headers: { accept } },
        `repository:${repo}:pull`,
    );
    if (res.status === 404) {
        await res.arrayBuffer();
        return undefined;
    }
    await expectStatus(res, `manifest GET ${repo}:${reference}`, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    return { digest: sha256(bytes), mediaType: (res.headers.get("content-type") ?? "").split(";")[0], bytes };
}
