import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { smokedStagingTag, stagingTag } from "../../../src/images/naming";
import { SmokedStagingTag, SmokedStagingTagInputs } from "../../../src/pulumi/smokedStagingTag";
import { callSerialized } from "../../support/dynamicProviders";
import { describeOutput, recorded, resetMocks } from "../../support/pulumiMocks";
import { DEFAULT_USER, startRegistry, TestRegistry } from "../../support/registry";
import { pushImage, rawManifest } from "../../support/registryImages";

const PASSWORD = "s3cret-registry-password";
const TYPE = "pulumi-nodejs:dynamic/truss-base-images:SmokedStagingTag";
const KEY = "truss.base.content-digest";
const CONTENT = `sha256:${"5".repeat(64)}`;

describe("SmokedStagingTag (Pulumi mocks)", () => {
    beforeEach(() => resetMocks());

    it("declares the smoked tag of a tested image with a secret password and the tested digest as its input", async () => {
        const res = new SmokedStagingTag("server-3.9-v2-amd64-smoked", {
            username: "basetenservice",
            password: PASSWORD,
            repository: "docker.io/baseten/truss-server-base",
            sourceDigest: `sha256:${"a".repeat(64)}`,
            tag: smokedStagingTag(CONTENT),
        });
        const password = (res as unknown as { password: pulumi.Output<string> }).password;
        assert.deepStrictEqual(await describeOutput(password), { known: true, secret: true });
        await describeOutput(res.digest);
        const [r] = recorded().filter((x) => x.type === TYPE);
        assert.ok(r, `a ${TYPE} was registered`);
        assert.strictEqual(r.inputs.tag, `build-${"5".repeat(64)}-smoked`);
        assert.strictEqual(r.inputs.__implementation, "SmokedStagingTag");
        assert.ok(!String(r.inputs.__provider).includes(PASSWORD), "the serialized provider holds no password");
    });
});

describe("the SmokedStagingTag provider, serialized by Pulumi and run in another process, against a real registry", () => {
    let registry: TestRegistry;
    const repoPath = "baseten/truss-server-base";
    const seeder = () => ({ url: registry.url, credentials: DEFAULT_USER });
    const inputs = (sourceDigest: string): SmokedStagingTagInputs => ({
        username: DEFAULT_USER.username,
        password: DEFAULT_USER.password,
        repository: `${registry.host}/${repoPath}`,
        sourceDigest,
        tag: smokedStagingTag(CONTENT),
        timeoutSeconds: 30,
    });

    before(async () => {
        registry = await startRegistry({ auth: "token" });
    });
    after(async () => registry?.stop());

    it("create copies the tested manifest (by its digest) byte for byte to build-<hex>-smoked; a digest the repository lacks writes nothing; delete leaves it", async () => {
        const tested = await pushImage(seeder(), repoPath, stagingTag(CONTENT), { labels: { [KEY]: CONTENT } });
        // A new build of the content was pushed over the staging tag since: the smoked tag holds the image that was tested.
        await pushImage(seeder(), repoPath, stagingTag(CONTENT), { labels: { [KEY]: CONTENT }, layerText: "rebuilt" });
        const missing = await callSerialized("SmokedStagingTag", "create", [inputs(`sha256:${"0".repeat(64)}`)]);
        assert.strictEqual(missing.ok, false);
        assert.match(missing.error ?? "", /digest sha256:0{64}: .*the source of the copy no longer exists/);
        assert.strictEqual(await rawManifest(seeder(), repoPath, smokedStagingTag(CONTENT)), undefined);

        const created = await callSerialized("SmokedStagingTag", "create", [inputs(tested.digest)]);
        assert.ok(created.ok, created.error);
        assert.strictEqual(created.result.id, `${registry.host}/${repoPath}:${smokedStagingTag(CONTENT)}`);
        assert.strictEqual(created.result.outs.digest, tested.digest);
        const marked = await rawManifest(seeder(), repoPath, smokedStagingTag(CONTENT));
        assert.deepStrictEqual(marked?.bytes, tested.bytes);

        const deleted = await callSerialized("SmokedStagingTag", "delete", [created.result.id, created.result.outs]);
        assert.ok(deleted.ok, deleted.error);
        assert.strictEqual(
            (await rawManifest(seeder(), repoPath, smokedStagingTag(CONTENT)))?.digest,
            tested.digest,
            "still in the registry",
        );
    });
});
