// A small Docker registry token server (the `auth.token` flow of distribution), for tests.
// It authenticates users with basic auth, grants the requested scopes (anonymous users get
// pull only, if allowed) and signs ES256 JWTs whose `x5c` header carries a self-signed
// certificate that the registry trusts through its `rootcertbundle`.
import { execFileSync } from "child_process";
import { createPrivateKey, generateKeyPairSync, randomUUID, sign, X509Certificate, KeyObject } from "crypto";
import * as fs from "fs";
import * as http from "http";
import type { AddressInfo } from "net";
import * as path from "path";

export interface TokenServerOptions {
    /** Where the key and certificate are written (the caller removes it). */
    readonly dir: string;
    readonly users: readonly { username: string; password: string }[];
    /** The `service` the registry announces and the token's audience. */
    readonly service: string;
    readonly issuer: string;
    /** Whether a request without credentials gets pull access (Docker Hub's public repositories). */
    readonly anonymousPull?: boolean;
}

export interface TokenServer {
    /** http://127.0.0.1:PORT/token */
    readonly realm: string;
    /** PEM file of the signing certificate: the registry's `rootcertbundle`. */
    readonly certPath: string;
    /** Every token request: who asked (undefined = anonymous) and for which scopes. */
    readonly requests: { account?: string; scopes: string[]; granted: boolean }[];
    stop(): Promise<void>;
}

interface Access {
    type: string;
    name: string;
    actions: string[];
}

/** Parses `repository:name:pull,push` (names may contain ':' only in the type's registry form, never here). */
function parseScope(scope: string): Access | undefined {
    const first = scope.indexOf(":");
    const last = scope.lastIndexOf(":");
    if (first < 0 || last === first) return undefined;
    return {
        type: scope.slice(0, first),
        name: scope.slice(first + 1, last),
        actions: scope
            .slice(last + 1)
            .split(",")
            .filter(Boolean),
    };
}

function b64url(data: Buffer | string): string {
    return Buffer.from(data).toString("base64url");
}

function signJwt(key: KeyObject, certDer: Buffer, claims: object): string {
    const header = { typ: "JWT", alg: "ES256", x5c: [certDer.toString("base64")] };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    // JWS ES256 signatures are r || s (IEEE P1363), not DER.
    const signature = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
    return `${input}.${b64url(signature)}`;
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
    const keyPath = path.join(opts.dir, "token-key.pem");
    const certPath = path.join(opts.dir, "token-cert.pem");
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    fs.writeFileSync(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    // Node can parse certificates but not create them: openssl self-signs one for our key.
    execFileSync(
        "openssl",
        ["req", "-x509", "-new", "-key", keyPath, "-subj", "/CN=truss-base-images test token issuer", "-days", "2", "-out", certPath],
        {
            stdio: ["ignore", "ignore", "pipe"],
        },
    );
    const certDer = Buffer.from(new X509Certificate(fs.readFileSync(certPath)).raw);
    const key = createPrivateKey(fs.readFileSync(keyPath));

    const requests: TokenServer["requests"] = [];
    const server = http.createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://127.0.0.1");
        const reply = (status: number, body: object): void => {
            res.writeHead(status, { "content-type": "application/json" });
            res.end(JSON.stringify(body));
        };
        if (url.pathname !== "/token") return reply(404, { errors: [{ code: "NOT_FOUND" }] });
        const scopes = url.searchParams
            .getAll("scope")
            .flatMap((s) => s.split(" "))
            .filter(Boolean);
        let account: string | undefined;
        const authz = req.headers.authorization;
        if (authz) {
            const m = /^Basic\s+(.+)$/i.exec(authz);
            const decoded = m ? Buffer.from(m[1], "base64").toString("utf8") : "";
            const colon = decoded.indexOf(":");
            const user = opts.users.find(
                (u) => colon > 0 && u.username === decoded.slice(0, colon) && u.password === decoded.slice(colon + 1),
            );
            if (!user) {
                requests.push({ account: colon > 0 ? decoded.slice(0, colon) : undefined, scopes, granted: false });
                return reply(401, { details: "incorrect username or password" });
            }
            account = user.username;
        }
        if (url.searchParams.get("service") !== opts.service)
            return reply(400, { details: `unknown service ${url.searchParams.get("service")}` });
        const access: Access[] = [];
        for (const s of scopes) {
            const a = parseScope(s);
            if (!a) continue;
            const actions = account ? a.actions : opts.anonymousPull ? a.actions.filter((x) => x === "pull") : [];
            if (actions.length > 0) access.push({ ...a, actions });
        }
        requests.push({ account, scopes, granted: true });
        const now = Math.floor(Date.now() / 1000);
        const token = signJwt(key, certDer, {
            iss: opts.issuer,
            sub: account ?? "",
            aud: opts.service,
            exp: now + 300,
            nbf: now - 10,
            iat: now,
            jti: randomUUID(),
            access,
        });
        reply(200, { token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() });
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    return {
        realm: `http://127.0.0.1:${port}/token`,
        certPath,
        requests,
        stop: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}
