import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { RegistryTag, registryTagProvider, RegistryTagInputs, RegistryTagOutputs } from "../../../src/pulumi/registryTag";
import { PROJECT_DIR } from "../../support/fixtures";
import { describeOutput, recorded, resetMocks, valueOf } from "../../support/pulumiMocks";
import { DEFAULT_USER, startRegistry, TestRegistry } from "../../support/registry";
import { pushImage, rawManifest } from "../../support/registryImages";

const PASSWORD = "s3cret-registry-password";
const OTHER_USER = { username: "ci", password: "ci-password" };
const TYPE = "pulumi-nodejs:dynamic/truss-base-images:RegistryTag";

function declare(args: Partial<ConstructorParameters<typeof RegistryTag>[1]> = {}): RegistryTag {
    return new RegistryTag("server-3.9-v2", {
        server: "docker.io",
        username: "basetenservice",
        password: pulumi.secret(PASSWORD),
        repository: "docker.io/baseten/truss-server-base",
        tag: "3.9-v2",
        digest: "sha256:" + "a".repeat(64),
        source: "docker.io/baseten/truss-server-base:3.9-v1",
        ...args,
    });
}

describe("RegistryTag (Pulumi mocks)", () => {
    beforeEach(() => resetMocks());

    it("declares a dynamic resource with the tag, digest and source as inputs, known at preview", async () => {
        resetMocks({ preview: true });
        const res = declare();
        assert.deepStrictEqual(await describeOutput(res.digest), { known: true, secret: false });
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
            digest: "sha256:" + "a".repeat(64),
            source: "docker.io/baseten/truss-server-base:3.9-v1",
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

/** Loads a serialized dynamic provider the way Pulumi's dynamic provider host does. */
function loadSerializedProvider(text: string): pulumi.dynamic.ResourceProvider<RegistryTagInputs> {
    const dir = fs.mkdtempSync(path.join(PROJECT_DIR, ".build", "provider-"));
    try {
        const file = path.join(dir, "provider.js");
        fs.writeFileSync(file, text);
        return (require(file) as { handler: () => pulumi.dynamic.ResourceProvider<RegistryTagInputs> }).handler();
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

describe("the RegistryTag provider against a real registry", () => {
    let registry: TestRegistry;
    const repoPath = "baseten/truss-server-base";
    let inputs: (tag: string, digest: string, source?: string) => RegistryTagInputs;
    let v1: { digest: string; bytes: Buffer };

    before(async () => {
        fs.mkdirSync(path.join(PROJECT_DIR, ".build"), { recursive: true });
        registry = await startRegistry({ auth: "htpasswd", users: [DEFAULT_USER, OTHER_USER] });
        v1 = await pushImage({ url: registry.url, credentials: DEFAULT_USER }, repoPath, "3.9-v1", { labels: { a: "1" }, format: "oci" });
        inputs = (tag, digest, source) => ({
            server: registry.host,
            username: DEFAULT_USER.username,
            password: DEFAULT_USER.password,
            repository: `${registry.host}/${repoPath}`,
            tag,
            digest,
            ...(source ? { source } : {}),
        });
    });
    after(async () => registry?.stop());

    it("works after Pulumi serializes it: create copies, diff sees no change, read confirms, delete keeps the tag", async () => {
        resetMocks();
        await valueOf(declare().urn);
        const [r] = recorded().filter((x) => x.type === TYPE);
        const provider = loadSerializedProvider(String(r.inputs.__provider));
        const news = inputs("3.9-v2", v1.digest, `${registry.host}/${repoPath}:3.9-v1`);
        assert.deepStrictEqual(await provider.check?.({} as RegistryTagInputs, news), { inputs: news, failures: [] });
        const created = await provider.create(news);
        assert.strictEqual(created.id, `${registry.host}/${repoPath}:3.9-v2`);
        assert.strictEqual(created.outs.reference, created.id);
        const served = await rawManifest({ url: registry.url, credentials: DEFAULT_USER }, repoPath, "3.9-v2");
        assert.ok(served?.bytes.equals(v1.bytes), "a byte copy");
        assert.deepStrictEqual(await provider.diff?.(created.id, created.outs, news), {
            changes: false,
            replaces: [],
            deleteBeforeReplace: false,
        });
        assert.deepStrictEqual(await provider.read?.(created.id, created.outs), { id: created.id, props: created.outs });
        await provider.delete?.(created.id, created.outs);
        assert.ok(await rawManifest({ url: registry.url, credentials: DEFAULT_USER }, repoPath, "3.9-v2"), "delete never deletes a tag");
        // Its errors survive serialization too, without the password.
        await assert.rejects(provider.create({ ...news, tag: "3.9-v4", password: "wrong-password-7" }), (e: Error) => {
            assert.match(e.message, /HTTP 401 .*user "truss"/);
            assert.ok(!e.message.includes("wrong-password-7"));
            return true;
        });
    });

    it("works after serialization with bearer-token auth too", async () => {
        const tokenRegistry = await startRegistry({ auth: "token" });
        try {
            const src = await pushImage({ url: tokenRegistry.url, credentials: DEFAULT_USER }, repoPath, "3.9-v1", { labels: { a: "1" } });
            resetMocks();
            await valueOf(declare().urn);
            const [r] = recorded().filter((x) => x.type === TYPE);
            const provider = loadSerializedProvider(String(r.inputs.__provider));
            const news = {
                ...inputs("3.9-v2", src.digest, "3.9-v1"),
                server: tokenRegistry.host,
                repository: `${tokenRegistry.host}/${repoPath}`,
            };
            await provider.create(news);
            assert.strictEqual(
                (await rawManifest({ url: tokenRegistry.url, credentials: DEFAULT_USER }, repoPath, "3.9-v2"))?.digest,
                src.digest,
            );
            assert.ok((tokenRegistry.tokenServer?.requests.length ?? 0) > 0, "it went through the token service");
        } finally {
            await tokenRegistry.stop();
        }
    });

    it("diff asks for a replacement when the registry no longer serves the tag at the digest", async () => {
        const p = registryTagProvider;
        const news = inputs("3.9-v3", v1.digest, "3.9-v1");
        const created = await p.create(news);
        const outs = created.outs as RegistryTagOutputs;
        // Someone overwrites the tag with other content.
        const other = await pushImage({ url: registry.url, credentials: DEFAULT_USER }, repoPath, "3.9-v3", { labels: { a: "other" } });
        assert.deepStrictEqual(await p.diff?.(created.id, outs, news), { changes: true, replaces: ["digest"], deleteBeforeReplace: false });
        assert.deepStrictEqual(await p.read?.(created.id, outs), { id: created.id, props: { ...outs, digest: other.digest } });
        // Re-creating refuses to overwrite it.
        await assert.rejects(p.create(news), /the tag already holds .*; published tags are never overwritten/);
        // A tag that is gone reads as gone, and diff wants it back.
        const gone = inputs("3.9-gone", v1.digest, "3.9-v1");
        assert.deepStrictEqual(await p.read?.(`${gone.repository}:3.9-gone`, { ...gone, reference: "" }), { id: "" });
        assert.deepStrictEqual((await p.diff?.("x", { ...gone, reference: "" }, gone))?.replaces, ["digest"]);
    });

    it("diff: a new tag or digest is a replacement, new credentials an update, a new source nothing", async () => {
        const p = registryTagProvider;
        const olds = { ...inputs("3.9-v1", v1.digest, "3.9-v0"), reference: "" };
        assert.deepStrictEqual(await p.diff?.("id", olds, { ...olds, tag: "3.9-v9" }), {
            changes: true,
            replaces: ["tag"],
            deleteBeforeReplace: false,
        });
        assert.deepStrictEqual(await p.diff?.("id", olds, { ...olds, ...OTHER_USER }), {
            changes: true,
            replaces: [],
            deleteBeforeReplace: false,
        });
        assert.deepStrictEqual(await p.diff?.("id", olds, { ...olds, source: undefined }), {
            changes: false,
            replaces: [],
            deleteBeforeReplace: false,
        });
        // At preview, a digest still unknown (a build not pushed yet) is a replacement, with no registry call.
        const unknown = (require("@pulumi/pulumi/runtime/rpc") as { unknownValue: string }).unknownValue;
        assert.deepStrictEqual(await p.diff?.("id", olds, { ...olds, digest: unknown, server: "unreachable.invalid" }), {
            changes: true,
            replaces: ["server", "digest"],
            deleteBeforeReplace: false,
        });
        assert.deepStrictEqual((await p.check?.({} as RegistryTagInputs, { ...olds, digest: unknown }))?.failures, []);
    });

    it("check refuses a digest that is not one", async () => {
        const r = await registryTagProvider.check?.({} as RegistryTagInputs, inputs("3.9-v2", "latest"));
        assert.deepStrictEqual(r?.failures, [{ property: "digest", reason: 'expected a manifest digest sha256:<64 hex>, got "latest"' }]);
    });
});
