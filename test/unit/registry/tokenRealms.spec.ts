// Where the registry client sends a registry's credentials, and what its messages repeat of an
// answer. The registry here is a fake one inside the client's injectable fetch (the transport),
// so that it can name any token realm, public hosts and plain http included, without a network;
// the client under test is the real one. Every request the fake receives is recorded.
import * as assert from "assert";
import { RegistryClient, RegistryError } from "../../../src/registry";
import { registryClientFor, CLI_PASSWORD_FROM } from "../../../src/publish/publishPlan";
import type { StackConfig } from "../../../src/config/stackConfig";

const CREDENTIALS = { username: "truss", password: "s3cret-password-7d1e" };
const SERVER = "registry.example.com";
const REPO = `${SERVER}/baseten/truss-server-base`;

interface Seen {
    readonly url: string;
    readonly authorization?: string;
}

/** A registry that asks for a bearer token from `realm` and serves tags to holders of "good-token". */
function fakeRegistry(realm: string, tokenAnswer: () => Response = () => Response.json({ token: "good-token" })) {
    const seen: Seen[] = [];
    const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
        const url = new URL(String(input));
        const authorization = new Headers(init?.headers).get("authorization") ?? undefined;
        seen.push({ url: url.toString(), authorization });
        if (`${url.origin}${url.pathname}` === realm) return tokenAnswer();
        if (url.hostname !== SERVER) throw new TypeError("fetch failed");
        if (authorization === "Bearer good-token" && url.pathname.endsWith("/tags/list")) {
            return Response.json({ name: "baseten/truss-server-base", tags: ["v1"] });
        }
        return new Response('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}', {
            status: 401,
            headers: { "www-authenticate": `Bearer realm="${realm}",service="${SERVER}"`, "content-type": "application/json" },
        });
    }) as typeof globalThis.fetch;
    return { fetch, seen };
}

async function rejects(p: Promise<unknown>): Promise<RegistryError> {
    try {
        await p;
    } catch (e) {
        assert.ok(e instanceof RegistryError, `expected a RegistryError, got ${(e as Error)?.stack ?? e}`);
        return e;
    }
    assert.fail("expected the call to fail");
}

const FAST = { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 };
const sentCredentials = (seen: Seen[]) => seen.filter((s) => s.authorization?.startsWith("Basic "));

describe("token realms: a registry's credentials go only to its own token service, over https", () => {
    it("a realm on the registry's own host over https gets the credentials", async () => {
        const reg = fakeRegistry(`https://${SERVER}/token`);
        const c = new RegistryClient({ server: SERVER, credentials: CREDENTIALS, fetch: reg.fetch, retry: FAST });
        assert.deepStrictEqual(await c.listTags(REPO), ["v1"]);
        assert.strictEqual(sentCredentials(reg.seen).length, 1);
    });

    it("a realm on another host is refused: nothing is sent there, and the error says why and what to configure", async () => {
        const reg = fakeRegistry("https://collector.example.net/token");
        const c = new RegistryClient({ server: SERVER, credentials: CREDENTIALS, fetch: reg.fetch, retry: FAST });
        const e = await rejects(c.listTags(REPO));
        assert.strictEqual(e.kind, "untrusted-realm");
        assert.deepStrictEqual(
            reg.seen.filter((s) => s.url.includes("collector.example.net")),
            [],
            "no request at all reached the foreign realm",
        );
        assert.deepStrictEqual(sentCredentials(reg.seen), []);
        assert.match(
            e.message,
            /the registry sends us for a token to https:\/\/collector\.example\.net\/token, which is on host collector\.example\.net/,
        );
        assert.match(e.message, /the credentials of user "truss" were not sent/);
        assert.match(e.message, /pulumi config set --path 'registry\.tokenRealmHosts\[0\]' collector\.example\.net/);
        assert.ok(!e.message.includes(CREDENTIALS.password));
    });

    it("a realm on another host named in registry.tokenRealmHosts (through the stack config) gets the credentials", async () => {
        const reg = fakeRegistry("https://auth.example.net/token");
        const config = {
            registry: { server: SERVER, namespace: "baseten", username: "truss", tokenRealmHosts: ["auth.example.net"] },
            registryTimeoutSeconds: 10,
        } as unknown as StackConfig;
        const c = registryClientFor(config, CREDENTIALS.password, { passwordFrom: CLI_PASSWORD_FROM }, { fetch: reg.fetch });
        assert.deepStrictEqual(await c.listTags(REPO), ["v1"]);
        assert.strictEqual(sentCredentials(reg.seen).length, 1);
        assert.ok(sentCredentials(reg.seen)[0].url.startsWith("https://auth.example.net/token?"));
    });

    it("a plain-http realm is refused even on the registry's own host or a named host (only loopback may be http)", async () => {
        for (const realm of [`http://${SERVER}/token`, "http://auth.example.net/token"]) {
            const reg = fakeRegistry(realm);
            const c = new RegistryClient({
                server: SERVER,
                credentials: CREDENTIALS,
                fetch: reg.fetch,
                retry: FAST,
                tokenRealmHosts: ["auth.example.net"],
            });
            const e = await rejects(c.listTags(REPO));
            assert.strictEqual(e.kind, "untrusted-realm");
            assert.match(e.message, /which is http, not https \(plain http is allowed only on loopback\)/);
            assert.deepStrictEqual(sentCredentials(reg.seen), [], realm);
        }
    });

    it("Docker Hub's own token service (auth.docker.io) is allowed for docker.io without configuration", async () => {
        const seen: string[] = [];
        const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
            const url = new URL(String(input));
            const authorization = new Headers(init?.headers).get("authorization");
            seen.push(`${url.hostname} ${authorization?.split(" ")[0] ?? "-"}`);
            if (url.hostname === "auth.docker.io") return Response.json({ token: "hub-token" });
            if (authorization === "Bearer hub-token") return Response.json({ name: "baseten/truss-server-base", tags: ["v1"] });
            return new Response("{}", {
                status: 401,
                headers: { "www-authenticate": 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"' },
            });
        }) as typeof globalThis.fetch;
        const c = new RegistryClient({ server: "docker.io", credentials: CREDENTIALS, fetch, retry: FAST });
        assert.deepStrictEqual(await c.listTags("docker.io/baseten/truss-server-base"), ["v1"]);
        assert.ok(seen.includes("auth.docker.io Basic"), seen.join("\n"));
    });

    it("anonymous reads may use any realm: no credentials exist to leak", async () => {
        const reg = fakeRegistry("https://collector.example.net/token");
        const c = new RegistryClient({ server: SERVER, fetch: reg.fetch, retry: FAST });
        assert.deepStrictEqual(await c.listTags(REPO), ["v1"]);
        assert.ok(reg.seen.some((s) => s.url.startsWith("https://collector.example.net/token") && s.authorization === undefined));
    });
});

describe("no answer's content is quoted into a message", () => {
    it("a malformed token answer says its status, size and content type, never its text", async () => {
        const body = "<html>session=very-secret-session-cookie</html>";
        const reg = fakeRegistry(
            `https://${SERVER}/token`,
            () => new Response(body, { status: 200, headers: { "content-type": "text/html" } }),
        );
        const e = await rejects(
            new RegistryClient({ server: SERVER, credentials: CREDENTIALS, fetch: reg.fetch, retry: FAST }).listTags(REPO),
        );
        assert.strictEqual(e.kind, "malformed");
        assert.match(
            e.message,
            /HTTP 200 while getting an access token: the answer is not the JSON object it should be \(47 bytes, content type "text\/html"; the content is not shown\)/,
        );
        assert.ok(!e.message.includes("very-secret"), e.message);
    });

    it("a token answer without a token says its size and content type, never its fields", async () => {
        const reg = fakeRegistry(`https://${SERVER}/token`, () => Response.json({ error: "secret-detail-9a" }));
        const e = await rejects(
            new RegistryClient({ server: SERVER, credentials: CREDENTIALS, fetch: reg.fetch, retry: FAST }).listTags(REPO),
        );
        assert.match(
            e.message,
            /has no "token" or "access_token" \(\d+ bytes, content type "application\/json"; the content is not shown\)/,
        );
        assert.ok(!e.message.includes("secret-detail"), e.message);
    });

    it("a registry's error body gives only its error codes, not its free text", async () => {
        const fetch = (async () =>
            new Response('{"errors":[{"code":"DENIED","message":"ask evil.example.com for help"},{"code":"<b>x</b>"}]}', {
                status: 403,
                headers: { "content-type": "application/json" },
            })) as typeof globalThis.fetch;
        const e = await rejects(new RegistryClient({ server: SERVER, fetch, retry: FAST }).listTags(REPO));
        assert.strictEqual(e.kind, "forbidden");
        assert.match(e.message, /\(registry error DENIED\)/);
        assert.ok(!e.message.includes("evil.example.com") && !e.message.includes("<b>"), e.message);
    });

    it("a manifest that is not JSON says its size, not its text (JSON.parse's message would quote it)", async () => {
        const fetch = (async (input: string | URL | Request) =>
            String(input).endsWith("/v2/")
                ? new Response("{}", { status: 200 })
                : new Response("secret-manifest-text{", {
                      status: 200,
                      headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
                  })) as typeof globalThis.fetch;
        const e = await rejects(new RegistryClient({ server: SERVER, fetch, retry: FAST }).getManifest(REPO, "v1"));
        assert.match(e.message, /the manifest is not valid JSON \(21 bytes; the content is not shown\)/);
        assert.ok(!e.message.includes("secret-manifest"), e.message);
    });
});
