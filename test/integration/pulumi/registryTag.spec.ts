import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { RegistryTag, RegistryTagInputs, RegistryTagOutputs } from "../../../src/pulumi/registryTag";
import { manifestAnnotation, parseManifest } from "../../../src/registry";
import { callSerialized } from "../../support/dynamicProviders";
import { describeOutput, recorded, resetMocks } from "../../support/pulumiMocks";
import { DEFAULT_USER, startRegistry, TestRegistry } from "../../support/registry";
import { pushImage, rawManifest } from "../../support/registryImages";

const PASSWORD = "s3cret-registry-password";
const TYPE = "pulumi-nodejs:dynamic/truss-base-images:RegistryTag";
const KEY = "truss.base.content-digest";
const content = (n: string) => `sha256:${n.repeat(64)}`;

function declare(args: Partial<ConstructorParameters<typeof RegistryTag>[1]> = {}): RegistryTag {
    return new RegistryTag("server-3.9-v2", {
        server: "docker.io",
        username: "basetenservice",
        password: pulumi.secret(PASSWORD),
        repository: "docker.io/baseten/truss-server-base",
        tag: "3.9-v2",
        contentDigest: content("c"),
        source: `docker.io/baseten/truss-server-base:build-${"c".repeat(64)}`,
        sourceDigest: "sha256:" + "a".repeat(64),
        immutable: true,
        timeoutSeconds: 60,
        ...args,
    });
}

describe("RegistryTag (Pulumi mocks)", () => {
    beforeEach(() => resetMocks());

    it("declares a dynamic resource with the tag, content digest and source as inputs; the written digest is an output", async () => {
        resetMocks({ preview: true });
        const res = declare();
        assert.deepStrictEqual(await describeOutput(res.digest), { known: false, secret: false });
        const [r] = recorded().filter((x) => x.type === TYPE);
        assert.ok(r, `a ${TYPE} was registered`);
        assert.strictEqual(r.name, "server-3.9-v2");
        const { __provider, password: _pw, ...inputs } = r.inputs;
        assert.strictEqual(typeof __provider, "string");
        assert.deepStrictEqual(inputs, {
            server: "docker.io",
            username: "basetenservice",
            repository: "docker.io/baseten/truss-server-base",
            tag: "3.9-v2",
            contentDigest: content("c"),
            source: `docker.io/baseten/truss-server-base:build-${"c".repeat(64)}`,
            sourceDigest: "sha256:" + "a".repeat(64),
            immutable: true,
            timeoutSeconds: 60,
            __implementation: "RegistryTag",
        });
    });

    it("keeps the password secret, even when given as a plain string", async () => {
        const res = declare({ password: PASSWORD });
        const password = (res as unknown as { password: pulumi.Output<string> }).password;
        assert.deepStrictEqual(await describeOutput(password), { known: true, secret: true });
        for (const o of [res.reference, res.repository, res.tag, res.digest]) assert.strictEqual((await describeOutput(o)).secret, false);
        const [r] = recorded().filter((x) => x.type === TYPE);
        assert.ok(!String(r.inputs.__provider).includes(PASSWORD), "the serialized provider holds no password");
    });
});

describe("the RegistryTag provider, serialized by Pulumi and run in another process, against a real registry", () => {
    let registry: TestRegistry;
    const repoPath = "baseten/truss-server-base";
    const seeder = () => ({ url: registry.url, credentials: DEFAULT_USER });
    let inputs: (tag: string, contentDigest: string, source?: string, sourceDigest?: string) => RegistryTagInputs;

    before(async () => {
        registry = await startRegistry({ auth: "token" });
        inputs = (tag, contentDigest, source, sourceDigest) => ({
            server: registry.host,
            username: DEFAULT_USER.username,
            password: DEFAULT_USER.password,
            repository: `${registry.host}/${repoPath}`,
            tag,
            contentDigest,
            immutable: true,
            timeoutSeconds: 30,
            ...(source ? { source } : {}),
            ...(sourceDigest ? { sourceDigest } : {}),
        });
    });
    after(async () => registry?.stop());

    it("create writes the tag from the staging tag with the content annotation; diff and read leave it; delete leaves it too (through the serialized provider)", async () => {
        const cd = content("1");
        const staged = await pushImage(seeder(), repoPath, `build-${"1".repeat(64)}`, { labels: { [KEY]: cd } });
        const news = inputs("3.9-v2", cd, `${registry.host}/${repoPath}:build-${"1".repeat(64)}`, staged.digest);
        const checked = await callSerialized("RegistryTag", "check", [{}, news]);
        assert.deepStrictEqual(checked, { ok: true, result: { inputs: { ...news, __implementation: "RegistryTag" }, failures: [] } });
        const created = await callSerialized("RegistryTag", "create", [news]);
        assert.ok(created.ok, created.error);
        const { id, outs } = created.result as { id: string; outs: RegistryTagOutputs & { __implementation: string } };
        assert.strictEqual(id, `${registry.host}/${repoPath}:3.9-v2`);
        const served = await rawManifest(seeder(), repoPath, "3.9-v2");
        assert.ok(served);
        assert.strictEqual(outs.digest, served.digest);
        assert.strictEqual(manifestAnnotation(parseManifest(served.bytes, served.mediaType), KEY), cd);
        const tokensBefore = registry.tokenServer?.requests.length;
        // The next preview declares it without a source (the image is unchanged): no change, no registry request.
        assert.deepStrictEqual(await callSerialized("RegistryTag", "diff", [id, outs, inputs("3.9-v2", cd)]), {
            ok: true,
            result: { changes: false, replaces: [], deleteBeforeReplace: false },
        });
        assert.strictEqual(registry.tokenServer?.requests.length, tokensBefore, "diff asked the registry nothing");
        assert.deepStrictEqual(await callSerialized("RegistryTag", "read", [id, outs]), { ok: true, result: { id, props: outs } });
        assert.strictEqual(outs.__implementation, "RegistryTag", "the state keeps the implementation's name, for delete and refresh");
        assert.deepStrictEqual(await callSerialized("RegistryTag", "delete", [id, outs]), { ok: true });
        assert.strictEqual((await rawManifest(seeder(), repoPath, "3.9-v2"))?.digest, served.digest, "delete leaves the published tag");
        // Its errors survive serialization too, name the program's password setting, and never the password.
        const denied = await callSerialized("RegistryTag", "create", [{ ...news, tag: "3.9-v4", password: "wrong-password-7" }]);
        assert.strictEqual(denied.ok, false);
        assert.match(denied.error as string, /HTTP 401 .*user "truss".*pulumi config set --secret registryPassword/);
        assert.ok(!(denied.error as string).includes("wrong-password-7"));
    });

    it("under immutableTags, a tag that appeared with other content since the plan stops the update with the conflict message", async () => {
        const cd = content("2");
        const staged = await pushImage(seeder(), repoPath, `build-${"2".repeat(64)}`, { labels: { [KEY]: cd } });
        const theirs = await pushImage(seeder(), repoPath, "3.10-v2", { labels: { [KEY]: content("3") } });
        const news = inputs("3.10-v2", cd, `build-${"2".repeat(64)}`, staged.digest);
        const r = await callSerialized("RegistryTag", "create", [news]);
        assert.strictEqual(r.ok, false);
        assert.match(r.error as string, /1 tag is already published with different content, and immutableTags is on/);
        assert.match(
            r.error as string,
            /3\.10-v2: the registry holds content digest sha256:3{64} .*this stack would publish content digest sha256:2{64}/,
        );
        assert.strictEqual((await rawManifest(seeder(), repoPath, "3.10-v2"))?.digest, theirs.digest, "nothing was overwritten");
        // Without immutableTags the same write replaces it.
        const allowed = await callSerialized("RegistryTag", "create", [{ ...news, immutable: false }]);
        assert.ok(allowed.ok, allowed.error);
        assert.notStrictEqual((await rawManifest(seeder(), repoPath, "3.10-v2"))?.digest, theirs.digest);
    });

    it("read reports a tag overwritten by someone else, and a tag that is gone", async () => {
        const cd = content("4");
        const staged = await pushImage(seeder(), repoPath, `build-${"4".repeat(64)}`, { labels: { [KEY]: cd } });
        const news = inputs("3.11-v2", cd, `build-${"4".repeat(64)}`, staged.digest);
        const created = await callSerialized("RegistryTag", "create", [news]);
        const { id, outs } = created.result as { id: string; outs: RegistryTagOutputs };
        const other = await pushImage(seeder(), repoPath, "3.11-v2", { labels: { a: "other" } });
        assert.deepStrictEqual(await callSerialized("RegistryTag", "read", [id, outs]), {
            ok: true,
            result: { id, props: { ...outs, digest: other.digest } },
        });
        const gone = { ...inputs("3.11-gone", cd), reference: "", digest: staged.digest };
        assert.deepStrictEqual(await callSerialized("RegistryTag", "read", [`${gone.repository}:3.11-gone`, gone]), {
            ok: true,
            result: { id: "" },
        });
    });

    it("diff: a new tag or content digest is a replacement, new credentials an update, a new source nothing, all without the registry", async () => {
        const olds = {
            ...inputs("3.9-v1", content("5"), "build-x", content("6")),
            server: "127.0.0.1:9",
            reference: "",
            digest: content("7"),
        };
        const diff = async (news: Partial<RegistryTagInputs>) =>
            (await callSerialized("RegistryTag", "diff", ["id", olds, { ...olds, ...news }])).result;
        assert.deepStrictEqual(await diff({ tag: "3.9-v9" }), { changes: true, replaces: ["tag"], deleteBeforeReplace: false });
        assert.deepStrictEqual(await diff({ contentDigest: content("8") }), {
            changes: true,
            replaces: ["contentDigest"],
            deleteBeforeReplace: false,
        });
        assert.deepStrictEqual(await diff({ username: "ci", password: "ci-password" }), {
            changes: true,
            replaces: [],
            deleteBeforeReplace: false,
        });
        assert.deepStrictEqual(await diff({ source: undefined, sourceDigest: undefined }), {
            changes: false,
            replaces: [],
            deleteBeforeReplace: false,
        });
    });

    it("check refuses a content digest that is not one", async () => {
        const r = await callSerialized("RegistryTag", "check", [{}, inputs("3.9-v2", "latest")]);
        assert.deepStrictEqual(r.result.failures, [
            { property: "contentDigest", reason: 'expected a content digest sha256:<64 hex>, got "latest"' },
        ]);
    });
});
