// The registry clients of the registry providers (RegistryTag, RegistryIndex) in the provider's
// process: one per registry, user and deadline, so that every resource of an update shares its
// tokens and manifests.
import { PROGRAM_PASSWORD_FROM } from "../publish/publishPlan";
import { RegistryClient } from "../registry";

/** What a registry provider's inputs say about reaching the registry. */
export interface RegistryAccessInputs {
    readonly server: string;
    readonly username?: string;
    readonly password?: string;
    readonly timeoutSeconds?: number;
}

const clients = new Map<string, RegistryClient>();

export function providerRegistryClient(inputs: RegistryAccessInputs): RegistryClient {
    const key = JSON.stringify([inputs.server, inputs.username, inputs.password, inputs.timeoutSeconds]);
    let client = clients.get(key);
    if (!client) {
        const credentials = inputs.username && inputs.password ? { username: inputs.username, password: inputs.password } : undefined;
        client = new RegistryClient({
            server: inputs.server,
            credentials,
            credentialsSource: { configuredUser: inputs.username, passwordFrom: PROGRAM_PASSWORD_FROM },
            timeoutSeconds: inputs.timeoutSeconds,
        });
        clients.set(key, client);
    }
    return client;
}
