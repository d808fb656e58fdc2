// A real eStargz conversion: an image built by the local Docker daemon (a small busybox image
// with labels, several layers) is pushed to its staging tag on a real registry with basic auth,
// converted by ctr-remote through our own containerd (started here under a temp dir), via the
// serialized EstargzImage provider, and then indexed with an arm64 image.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { LABELS } from "../../../src/images/labels";
import type { ContentDigest } from "../../../src/images/spec";
import { estargzStagingTag, stagingTag } from "../../../src/images/naming";
import type { EstargzImageInputs } from "../../../src/pulumi/estargzImage";
import { stagedPlatforms } from "../../../src/publish/classifyIndex";
import { publishIndex, RegistryClient } from "../../../src/registry";
import { startContainerd, TestContainerd } from "../../support/containerd";
import { docker, ensureDockerDaemon } from "../../support/docker";
import { callSerialized } from "../../support/dynamicProviders";
import { tempDir } from "../../support/fixtures";
import { DEFAULT_USER, startRegistry, TestRegistry } from "../../support/registry";
import { pushImage, rawManifest } from "../../support/registryImages";

const REPO = "baseten/truss-server-base";
const CONTENT: ContentDigest = `sha256:${"4".repeat(64)}`;
const TOC = "containerd.io/snapshot/stargz/toc.digest";

describe("eStargz conversion of an image built by the local daemon (small busybox image, real containerd and ctr-remote)", function () {
    this.timeout(240_000);
    let registry: TestRegistry;
    let containerd: TestContainerd;
    let dockerConfig: string;
    let source: string;
    let target: string;
    const labels = { [LABELS.contentDigest]: CONTENT, [LABELS.jobType]: "server", "org.opencontainers.image.title": "truss-server-base" };

    before(async () => {
        await ensureDockerDaemon();
        registry = await startRegistry({ auth: "htpasswd" });
        containerd = await startContainerd();
        source = `${registry.host}/${REPO}:${stagingTag(CONTENT)}`;
        target = `${registry.host}/${REPO}:${estargzStagingTag(CONTENT)}`;
        const context = tempDir("esgz-context");
        fs.copyFileSync("/bin/busybox", path.join(context, "busybox"));
        fs.writeFileSync(
            path.join(context, "Dockerfile"),
            [
                "FROM scratch",
                "COPY busybox /bin/busybox",
                'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin && mkdir -p /srv && echo truss > /srv/hello"]',
                ...Object.entries(labels).map(([k, v]) => `LABEL ${JSON.stringify(k)}=${JSON.stringify(v)}`),
                "",
            ].join("\n"),
        );
        // A Docker config of the test's own, so the login touches no operator's credentials.
        dockerConfig = tempDir("esgz-docker-config");
        const env = { DOCKER_CONFIG: dockerConfig };
        await docker(["build", "--network", "host", "-t", source, context], { env });
        await docker(["login", registry.host, "-u", DEFAULT_USER.username, "--password-stdin"], { env, input: DEFAULT_USER.password });
        await docker(["push", source], { env });
    });

    after(async () => {
        await containerd?.stop();
        await registry?.stop();
        if (source) await docker(["rmi", "-f", source], { allowFailure: true });
        if (dockerConfig) fs.rmSync(dockerConfig, { recursive: true, force: true });
    });

    it("converts through the serialized provider: OCI media types, a TOC digest on every layer, the labels kept (so the -estargz tag proves the image staged), then indexed", async () => {
        const inputs: EstargzImageInputs = {
            source,
            sourceDigest: `sha256:${"0".repeat(64)}`,
            target,
            platform: "linux/amd64",
            plainHttp: true,
            sudo: false,
            address: containerd.address,
            username: DEFAULT_USER.username,
            password: DEFAULT_USER.password,
        };
        const result = await callSerialized("EstargzImage", "create", [inputs]);
        assert.ok(result.ok, result.error);
        const digest = result.result.outs.digest as string;

        const seeder = { url: registry.url, credentials: DEFAULT_USER };
        const converted = await rawManifest(seeder, REPO, estargzStagingTag(CONTENT));
        assert.ok(converted, "the converted image is in its -estargz staging tag");
        assert.equal(converted.digest, digest, "the provider reports the pushed manifest's digest");
        const manifest = JSON.parse(converted.bytes.toString());
        assert.equal(manifest.mediaType, "application/vnd.oci.image.manifest.v1+json");
        assert.equal(manifest.config.mediaType, "application/vnd.oci.image.config.v1+json");
        assert.ok(manifest.layers.length >= 2);
        for (const layer of manifest.layers) {
            assert.equal(layer.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
            assert.match(layer.annotations?.[TOC] ?? "", /^sha256:[a-f0-9]{64}$/, `layer ${layer.digest} has a TOC digest`);
        }
        const original = await rawManifest(seeder, REPO, stagingTag(CONTENT));
        assert.equal(original?.mediaType, "application/vnd.docker.distribution.manifest.v2+json", "the build itself stays as pushed");

        const client = new RegistryClient({ server: registry.host, credentials: DEFAULT_USER });
        const image = await client.getManifest(`${registry.host}/${REPO}`, digest);
        assert.ok(image && image.kind === "image");
        const config = await client.getImageConfig(`${registry.host}/${REPO}`, image);
        for (const [k, v] of Object.entries(labels)) assert.equal(config?.labels[k], v, `label ${k} survives the conversion`);
        // So the -estargz tag, the eStargz stack's proof, is found staged by its label; the build's own tag (pushed before any smoke test) is not.
        const wanted = [{ platform: "linux/amd64", contentDigest: CONTENT }];
        assert.deepStrictEqual(await stagedPlatforms(client, `${registry.host}/${REPO}`, wanted, "estargz"), { "linux/amd64": digest });
        assert.deepStrictEqual(await stagedPlatforms(client, `${registry.host}/${REPO}`, wanted, "gzip"), {}, "no -smoked tag: not staged");

        const arm64 = await pushImage(seeder, REPO, stagingTag(`sha256:${"5".repeat(64)}`), {
            labels: { [LABELS.contentDigest]: `sha256:${"5".repeat(64)}` },
            format: "oci",
            architecture: "arm64",
        });
        const published = await publishIndex(client, {
            repository: `${registry.host}/${REPO}`,
            tag: "3.9-v1",
            entries: [
                { platform: "linux/amd64", digest },
                { platform: "linux/arm64", digest: arm64.digest },
            ],
            content: { key: LABELS.contentDigest, digest: `sha256:${"6".repeat(64)}` },
        });
        const index = JSON.parse((await rawManifest(seeder, REPO, "3.9-v1"))!.bytes.toString());
        assert.equal(published.written, true);
        assert.deepStrictEqual(
            index.manifests.map((m: { digest: string; mediaType: string }) => [m.digest, m.mediaType]),
            [
                [digest, "application/vnd.oci.image.manifest.v1+json"],
                [arm64.digest, "application/vnd.oci.image.manifest.v1+json"],
            ],
        );
    });

    it("a failed conversion says what it needs and that the build is kept", async () => {
        const missing: EstargzImageInputs = {
            source: `${registry.host}/${REPO}:build-${"6".repeat(64)}`,
            sourceDigest: "x",
            target: `${registry.host}/${REPO}:build-${"6".repeat(64)}-estargz`,
            platform: "linux/amd64",
            plainHttp: true,
            sudo: false,
            address: containerd.address,
        };
        const result = await callSerialized("EstargzImage", "create", [missing]);
        assert.equal(result.ok, false);
        assert.match(result.error ?? "", /to eStargz failed \(exit [1-9]/);
        assert.match(result.error ?? "", /ctr-remote \(package stargz-snapshotter\)/);
        assert.match(result.error ?? "", /converts it without rebuilding/);
    });
});
