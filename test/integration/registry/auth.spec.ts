import * as assert from "assert";
import type { StackConfig } from "../../../src/config/stackConfig";
import { CLI_PASSWORD_FROM, PROGRAM_PASSWORD_FROM, registryClientFor } from "../../../src/publish/publishPlan";
import { parseChallenges, RegistryClient, RegistryError } from "../../../src/registry";
import { DEFAULT_USER, startRegistry, TestRegistry } from "../../support/registry";
import { pushImage, rawManifest } from "../../support/registryImages";

const FAST_RETRY = { attempts: 2, baseDelayMs: 10, maxDelayMs: 50 };
const WRONG_PASSWORD = "not-the-password-9f2c";

async function rejects(p: Promise<unknown>): Promise<RegistryError> {
    try {
        await p;
    } catch (e) {
        assert.ok(e instanceof RegistryError, `expected a RegistryError, got ${(e as Error)?.stack ?? e}`);
        return e;
    }
    assert.fail("expected the call to fail");
}

describe("parseChallenges", () => {
    it("reads Docker Hub's bearer challenge, commas inside quotes included", () => {
        assert.deepStrictEqual(
            parseChallenges(
                'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:baseten/truss-server-base:pull,push"',
            ),
            [
                {
                    scheme: "bearer",
                    params: {
                        realm: "https://auth.docker.io/token",
                        service: "registry.docker.io",
                        scope: "repository:baseten/truss-server-base:pull,push",
                    },
                },
            ],
        );
    });

    it("reads several challenges, unquoted values and escapes", () => {
        assert.deepStrictEqual(parseChallenges('Basic realm="a \\"b\\"", Bearer realm=https://x/token, error=insufficient_scope'), [
            { scheme: "basic", params: { realm: 'a "b"' } },
            { scheme: "bearer", params: { realm: "https://x/token", error: "insufficient_scope" } },
        ]);
        assert.deepStrictEqual(parseChallenges(""), []);
    });
});

describe("registry auth against a real registry", function () {
    describe("basic auth (htpasswd)", () => {
        let registry: TestRegistry;
        const repo = () => `${registry.host}/baseten/truss-server-base`;
        before(async () => {
            registry = await startRegistry({ auth: "htpasswd" });
            await pushImage({ url: registry.url, credentials: DEFAULT_USER }, "baseten/truss-server-base", "v1", { labels: { a: "1" } });
        });
        after(async () => registry?.stop());

        it("reads and copies with the right credentials", async () => {
            const c = new RegistryClient({ server: registry.host, credentials: DEFAULT_USER, retry: FAST_RETRY });
            assert.deepStrictEqual(await c.listTags(repo()), ["v1"]);
            const copied = await c.copyTag(repo(), "v1", "v2");
            assert.strictEqual(
                (await rawManifest({ url: registry.url, credentials: DEFAULT_USER }, "baseten/truss-server-base", "v2"))?.digest,
                copied.digest,
            );
            // The ping learned the scheme: no request was sent without credentials after it.
            assert.strictEqual(c.stats.byOperation.ping, 1);
            assert.strictEqual(c.stats.requests, 1 + 1 + 2);
        });

        it("wrong credentials: a 401 error naming the registry and user, never the password", async () => {
            const c = new RegistryClient({
                server: registry.host,
                credentials: { username: "truss", password: WRONG_PASSWORD },
                credentialsSource: { configuredUser: "truss", passwordFrom: PROGRAM_PASSWORD_FROM },
                retry: FAST_RETRY,
            });
            const err = await rejects(c.listTags(repo()));
            assert.strictEqual(err.kind, "unauthorized");
            assert.strictEqual(err.context.status, 401);
            assert.match(
                err.message,
                new RegExp(`^registry ${registry.host.replace(/\./g, "\\.")}, repository baseten/truss-server-base: HTTP 401`),
            );
            assert.match(err.message, /user "truss"/);
            assert.match(err.message, /pulumi config set --secret registryPassword/);
            assert.ok(!err.message.includes(WRONG_PASSWORD) && !JSON.stringify(err).includes(WRONG_PASSWORD), "no password in the error");
        });

        it("npm run plan with registry.username set and TRUSS_REGISTRY_PASSWORD unset: names the variable, not registry.username", async () => {
            const config = { registry: { server: registry.host, namespace: "baseten", username: "truss" } } as unknown as StackConfig;
            const c = registryClientFor(config, undefined, { passwordFrom: CLI_PASSWORD_FROM });
            const err = await rejects(c.listTags(repo()));
            assert.strictEqual(err.kind, "unauthorized");
            assert.match(err.message, /did not accept anonymous access/);
            assert.match(
                err.message,
                /sets registry\.username to "truss", but no password was given.*set the TRUSS_REGISTRY_PASSWORD environment variable/,
            );
            assert.doesNotMatch(err.message, /Set registry\.username|pulumi config/);
        });

        it("npm run plan with a wrong password: names TRUSS_REGISTRY_PASSWORD, which it reads, not pulumi config", async () => {
            const config = { registry: { server: registry.host, namespace: "baseten", username: "truss" } } as unknown as StackConfig;
            const err = await rejects(registryClientFor(config, WRONG_PASSWORD, { passwordFrom: CLI_PASSWORD_FROM }).listTags(repo()));
            assert.strictEqual(err.kind, "unauthorized");
            assert.match(err.message, /its password \(the TRUSS_REGISTRY_PASSWORD environment variable\)/);
            assert.doesNotMatch(err.message, /pulumi config/);
        });

        it("no credentials: says the registry wants them", async () => {
            const err = await rejects(new RegistryClient({ server: registry.host, retry: FAST_RETRY }).listTags(repo()));
            assert.strictEqual(err.kind, "unauthorized");
            assert.match(err.message, /did not accept anonymous access.*Set registry\.username/);
        });
    });

    describe("bearer tokens (the registry's token auth, our token server)", () => {
        let registry: TestRegistry;
        const repo = () => `${registry.host}/baseten/truss-server-base`;
        before(async () => {
            registry = await startRegistry({ auth: "token", anonymousPull: true });
            await pushImage({ url: registry.url, credentials: DEFAULT_USER }, "baseten/truss-server-base", "v1", { labels: { a: "1" } });
            await pushImage({ url: registry.url, credentials: DEFAULT_USER }, "baseten/truss-training-base", "v1", { labels: { a: "2" } });
        });
        after(async () => registry?.stop());
        beforeEach(() => {
            registry.tokenServer?.requests.splice(0);
        });

        it("gets one token per scope, caches it, and reads and copies with it", async () => {
            const c = new RegistryClient({ server: registry.host, credentials: DEFAULT_USER, retry: FAST_RETRY });
            const training = `${registry.host}/baseten/truss-training-base`;
            await Promise.all([c.listTags(repo()), c.listTags(repo()), c.getManifest(repo(), "v1"), c.listTags(training)]);
            assert.deepStrictEqual(registry.tokenServer?.requests.map((r) => [r.account, r.scopes.join(" ")]).sort(), [
                ["truss", "repository:baseten/truss-server-base:pull"],
                ["truss", "repository:baseten/truss-training-base:pull"],
            ]);
            await c.copyTag(repo(), "v1", "v2");
            assert.deepStrictEqual(registry.tokenServer?.requests.at(-1)?.scopes, ["repository:baseten/truss-server-base:pull,push"]);
            assert.strictEqual(c.stats.byOperation.token, 3);
            assert.deepStrictEqual((await c.listTags(repo())).sort(), ["v1", "v2"]);
            assert.strictEqual(c.stats.byOperation.token, 3, "the pull token is still cached");
        });

        it("reads anonymously where the token service allows it, and cannot push", async () => {
            const c = new RegistryClient({ server: registry.host, retry: FAST_RETRY });
            assert.ok((await c.listTags(repo())).includes("v1"));
            assert.strictEqual(registry.tokenServer?.requests[0].account, undefined);
            const err = await rejects(c.copyTag(repo(), "v1", "anonymous-copy"));
            assert.strictEqual(err.kind, "unauthorized");
            assert.match(
                err.message,
                /tag anonymous-copy: HTTP 401 while writing a manifest: the registry did not accept anonymous access/,
            );
        });

        it("wrong credentials: the token service's 401, naming the registry and user, never the password", async () => {
            const c = new RegistryClient({
                server: registry.host,
                credentials: { username: "truss", password: WRONG_PASSWORD },
                retry: FAST_RETRY,
            });
            const err = await rejects(c.listTags(repo()));
            assert.strictEqual(err.kind, "unauthorized");
            assert.strictEqual(err.context.status, 401);
            assert.strictEqual(err.context.user, "truss");
            assert.match(
                err.message,
                new RegExp(
                    `^registry ${registry.host.replace(/\./g, "\\.")}, repository baseten/truss-server-base: HTTP 401 while getting an access token`,
                ),
            );
            assert.match(err.message, /rejected the credentials of user "truss"/);
            assert.ok(!err.message.includes(WRONG_PASSWORD) && !JSON.stringify(err).includes(WRONG_PASSWORD));
        });

        it("a token the registry does not trust is refused (the registry really checks signatures)", async () => {
            const header = Buffer.from(JSON.stringify({ typ: "JWT", alg: "none" })).toString("base64url");
            const claims = Buffer.from(
                JSON.stringify({
                    iss: "truss-test-token-issuer",
                    aud: registry.service,
                    exp: 9999999999,
                    access: [{ type: "repository", name: "baseten/truss-server-base", actions: ["pull"] }],
                }),
            ).toString("base64url");
            const res = await fetch(`${registry.url}/v2/baseten/truss-server-base/tags/list`, {
                headers: { authorization: `Bearer ${header}.${claims}.c2ln` },
            });
            assert.strictEqual(res.status, 401);
        });
    });
});
