import { basicAuthorization, Challenge, Credentials, parseChallenges, parseTokenResponse, realmProblem, repositoryScope } from "./auth";
import { answerShape, jsonObjectOf, MessageContext, registryError, statusError, tokenRefused } from "./messages";
import { TokenCache } from "./tokens";
import type { Call, Reply } from "./transport";

/**
 * How a client authenticates to one registry, as a small state machine. The registry says what it
 * wants in the `WWW-Authenticate` header of a 401 (to the ping `GET /v2/`, or to any call):
 *
 * | state     | what each call sends                                                    | entered when                            |
 * | --------- | ----------------------------------------------------------------------- | --------------------------------------- |
 * | `unasked` | nothing                                                                 | at the start                            |
 * | `open`    | nothing                                                                 | the ping answered 200                   |
 * | `basic`   | the credentials, as Basic (when there are any)                          | a 401 challenged `Basic`                |
 * | `bearer`  | a token for the call's scope, from the named token service (`realm`)    | a 401 challenged `Bearer realm=...`     |
 *
 * A 401 to a call moves the state on (learn) and the call is sent once more with fresh
 * authorization; a second 401 is the caller's to report. A token is asked for with the
 * credentials only from a realm that is https (or loopback http) on a host this registry trusts
 * (realmProblem): anywhere else the credentials are not sent and the call fails saying why.
 * Tokens are reused per scope until shortly before they expire (tokens.ts).
 */
export type AuthState =
    | { readonly kind: "unasked" }
    | { readonly kind: "open" }
    | { readonly kind: "basic" }
    | { readonly kind: "bearer"; readonly realm: string; readonly service?: string };

export interface AuthenticatorOptions {
    readonly credentials?: Credentials;
    /** Hosts whose token services may receive the credentials. */
    readonly realmHosts: readonly string[];
    readonly messages: MessageContext;
    /** Sends a call with an Authorization header (or none) within the deadline. */
    readonly send: (call: Call, authorization: string | undefined, deadline: number) => Promise<Reply>;
}

export class Authenticator {
    private current: AuthState = { kind: "unasked" };
    private readonly tokens = new TokenCache();

    constructor(private readonly options: AuthenticatorOptions) {}

    get state(): AuthState {
        return this.current;
    }

    /** The ping answered 200: the registry asks for nothing until a call is refused. */
    opened(): void {
        if (this.current.kind === "unasked") this.current = { kind: "open" };
    }

    /** Moves to what a 401's challenge asks for; returns the challenge we can answer, if any. */
    learn(reply: Reply): Challenge | undefined {
        const challenges = parseChallenges(reply.headers.get("www-authenticate") ?? "");
        const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
        if (bearer) {
            this.current = { kind: "bearer", realm: bearer.params.realm, service: bearer.params.service };
            return bearer;
        }
        const basic = challenges.find((c) => c.scheme === "basic");
        if (basic) {
            this.current = { kind: "basic" };
            return basic;
        }
        return undefined;
    }

    /** After a 401 that carried a token: the registry no longer takes the token of that scope. */
    forget(call: Call): void {
        this.tokens.forget(scopeOf(call) ?? "");
    }

    /** The Authorization header for a call in the current state (none for the ping). */
    async authorization(call: Call, deadline: number, challenge?: Challenge): Promise<string | undefined> {
        if (call.op === "ping") return undefined;
        const state = this.current;
        if (state.kind === "bearer") {
            const scope = scopeOf(call) ?? challenge?.params.scope;
            return `Bearer ${await this.tokens.get(scope ?? "", () => this.fetchToken(state, scope, call, deadline))}`;
        }
        if (state.kind === "basic" && this.options.credentials) return basicAuthorization(this.options.credentials);
        return undefined;
    }

    private async fetchToken(
        bearer: { readonly realm: string; readonly service?: string },
        scope: string | undefined,
        call: Call,
        deadline: number,
    ): Promise<{ token: string; expiresInSeconds: number }> {
        const { credentials, messages } = this.options;
        let url: URL;
        try {
            url = new URL(bearer.realm);
        } catch {
            throw registryError(
                messages,
                "malformed",
                { ...call, op: "token" },
                undefined,
                `the registry names a token service that is not a URL`,
            );
        }
        if (bearer.service) url.searchParams.set("service", bearer.service);
        if (scope) url.searchParams.append("scope", scope);
        if (credentials) url.searchParams.set("account", credentials.username);
        const tokenCall: Call = { op: "token", method: "GET", url: url.toString(), repository: call.repository, reference: call.reference };
        const untrusted = credentials ? realmProblem(url, this.options.realmHosts) : undefined;
        if (credentials && untrusted !== undefined) {
            throw registryError(
                messages,
                "untrusted-realm",
                tokenCall,
                undefined,
                `the registry sends us for a token to ${url.origin}${url.pathname}, which is ${untrusted}; the credentials of user "${credentials.username}" were not sent. ` +
                    `If that token service is the registry's own, name its host in the stack config (\`pulumi config set --path 'registry.tokenRealmHosts[0]' ${url.hostname}\`, ` +
                    `and serve it over https); otherwise registry.server does not point at the registry you meant.`,
            );
        }
        const reply = await this.options.send(tokenCall, credentials ? basicAuthorization(credentials) : undefined, deadline);
        if (reply.status === 401 || reply.status === 403) throw tokenRefused(messages, tokenCall, reply, `${url.origin}${url.pathname}`);
        if (reply.status !== 200) throw statusError(messages, tokenCall, reply);
        const parsed = parseTokenResponse(jsonObjectOf(messages, tokenCall, reply));
        if (!parsed)
            throw registryError(
                messages,
                "malformed",
                tokenCall,
                reply.status,
                `the token service's answer has no "token" or "access_token" (${answerShape(reply)}; the content is not shown)`,
            );
        return parsed;
    }
}

function scopeOf(call: Call): string | undefined {
    return call.repository ? repositoryScope(call.repository.path, call.push) : undefined;
}
