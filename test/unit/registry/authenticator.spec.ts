import { strict as assert } from "assert";
import { Authenticator } from "../../../src/registry/authenticator";
import { DEFAULT_RETRY } from "../../../src/registry/transport";
import type { Call, Reply } from "../../../src/registry/transport";

const CREDENTIALS = { username: "operator", password: "pa55" };
const CALL: Call = { op: "manifest", method: "GET", url: "https://registry.example.com/v2/baseten/x/manifests/t" };

function reply(challenge: string): Reply {
    return { status: 401, headers: new Headers({ "www-authenticate": challenge }), body: Buffer.alloc(0) } as unknown as Reply;
}

function authenticator(sent: { call: Call; authorization?: string }[] = []): Authenticator {
    return new Authenticator({
        credentials: CREDENTIALS,
        realmHosts: ["registry.example.com"],
        messages: {
            server: "registry.example.com",
            credentials: CREDENTIALS,
            source: { passwordFrom: "a test" },
            retry: DEFAULT_RETRY,
        } as never,
        send: async (call, authorization) => {
            sent.push({ call, authorization });
            return { status: 200, headers: new Headers(), body: Buffer.from('{"token":"t0k","expires_in":300}') } as unknown as Reply;
        },
    });
}

describe("Authenticator: the states of registry authentication", () => {
    it("starts unasked, is open after a 200 ping, and sends nothing in either", async () => {
        const auth = authenticator();
        assert.equal(auth.state.kind, "unasked");
        assert.equal(await auth.authorization(CALL, Date.now() + 1000), undefined);
        auth.opened();
        assert.equal(auth.state.kind, "open");
        assert.equal(await auth.authorization(CALL, Date.now() + 1000), undefined);
    });

    it("moves to basic on a Basic challenge and then sends the credentials", async () => {
        const auth = authenticator();
        assert.ok(auth.learn(reply('Basic realm="registry"')));
        assert.equal(auth.state.kind, "basic");
        assert.equal(await auth.authorization(CALL, Date.now() + 1000), `Basic ${Buffer.from("operator:pa55").toString("base64")}`);
    });

    it("moves to bearer on a Bearer challenge and sends a token fetched from that realm with the credentials", async () => {
        const sent: { call: Call; authorization?: string }[] = [];
        const auth = authenticator(sent);
        auth.learn(reply('Bearer realm="https://registry.example.com/token",service="registry.example.com"'));
        assert.deepEqual(auth.state, { kind: "bearer", realm: "https://registry.example.com/token", service: "registry.example.com" });
        assert.equal(await auth.authorization(CALL, Date.now() + 1000), "Bearer t0k");
        assert.equal(sent.length, 1);
        assert.match(sent[0].call.url, /^https:\/\/registry\.example\.com\/token\?service=registry\.example\.com/);
        assert.match(sent[0].authorization ?? "", /^Basic /);
    });

    it("sends no credentials to a token realm on another host, and says why", async () => {
        const sent: { call: Call; authorization?: string }[] = [];
        const auth = authenticator(sent);
        auth.learn(reply('Bearer realm="https://tokens.elsewhere.example/token"'));
        await assert.rejects(auth.authorization(CALL, Date.now() + 1000), /tokens\.elsewhere\.example.*were not sent/s);
        assert.equal(sent.length, 0);
    });

    it("answers nothing it cannot: a challenge of another scheme leaves the state as it was", () => {
        const auth = authenticator();
        assert.equal(auth.learn(reply("Negotiate abc")), undefined);
        assert.equal(auth.state.kind, "unasked");
    });
});
