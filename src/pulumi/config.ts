import * as pulumi from "@pulumi/pulumi";
import type { Catalog } from "../images/catalog";
import { CONFIG_NAMESPACE, decodePulumiConfig, SECRET_PRESENT, StackConfig } from "../config/stackConfig";
import { loadStack } from "../config/definition";
import { UserError } from "../errors";

/** The validated stack config, plus the registry password as a Pulumi secret. */
export interface PulumiStackConfig {
    readonly config: StackConfig;
    readonly catalog: Catalog;
    /** A secret Output; undefined when no password is configured. */
    readonly registryPassword?: pulumi.Output<string>;
}

const PASSWORD_KEY = `${CONFIG_NAMESPACE}:registryPassword`;

/**
 * Whether a config key was set with --secret. Pulumi's public API has no such question: Config's
 * get and getSecret return the value either way. The SDK keeps the answer in the untyped module
 * runtime/config (isConfigSecret), so this reads it there, and refuses to guess when a future SDK
 * moves it: test/unit/pulumi/config.spec.ts fails first if it does.
 */
export function isConfigSecret(fullKey: string): boolean {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- an untyped module of the SDK
    const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (k: string) => boolean };
    if (typeof runtimeConfig.isConfigSecret !== "function") {
        throw new UserError(
            "this @pulumi/pulumi has no runtime/config isConfigSecret, so the program cannot tell whether registryPassword is a secret. " +
                "Install the @pulumi/pulumi version package-lock.json pins (npm ci).",
        );
    }
    return runtimeConfig.isConfigSecret(fullKey);
}

/**
 * Reads and validates this stack's config before anything is declared. Invalid config throws
 * a pulumi.RunError carrying the one message that lists every problem (no stack trace).
 */
export function readStackConfig(imagesDir?: string): PulumiStackConfig {
    const all = pulumi.runtime.allConfig();
    const raw = decodePulumiConfig(all);
    const stack = pulumi.getStack();
    const source = `stack "${stack}" (Pulumi.${stack}.yaml)`;
    try {
        // A secret reaches the core only as SECRET_PRESENT; a plain-text value stays a string,
        // which parseStackConfig refuses in the words the CLIs use (PLAIN_PASSWORD).
        if (raw.registryPassword !== undefined && isConfigSecret(PASSWORD_KEY)) raw.registryPassword = SECRET_PRESENT;
        // Pulumi runs the program in the project folder: relative truss.checkout paths start there.
        const { config, catalog } = loadStack(raw, { projectDir: process.cwd(), source, imagesDir });
        const registryPassword = config.hasRegistryPassword
            ? new pulumi.Config(CONFIG_NAMESPACE).requireSecret("registryPassword")
            : undefined;
        return { config, catalog, registryPassword };
    } catch (e) {
        if (e instanceof UserError) throw new pulumi.RunError(e.message);
        throw e;
    }
}
