// Declaring whole stacks under Pulumi's mock runtime: the committed stack files, flattened into
// the string config the Pulumi engine hands a program, with secrets faked (the CLI that could
// decrypt `secure:` values is not on our machines).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { readStackConfig } from "../../src/pulumi/config";
import { declareStack, DeclaredStack } from "../../src/pulumi/stack";
import { resetMocks } from "./pulumiMocks";

export const PROJECT_DIR = path.resolve(__dirname, "..", "..");
export const FAKE_PASSWORD = "fake-docker-hub-token-for-tests";

/** Pulumi.<stack>.yaml as the engine passes it: `ns:key` -> string (objects as JSON). */
export function flatConfig(stack: string, overrides: Record<string, unknown> = {}): Record<string, string> {
    const doc = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8"));
    const out: Record<string, string> = {};
    const entries = { ...(doc.config ?? {}), ...overrides };
    for (const [key, value] of Object.entries(entries)) {
        if (value === undefined) continue;
        out[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
    return out;
}

export interface MockStack extends DeclaredStack {
    /** Options and inputs (as the program passed them, Outputs and all) of every resource, by name. */
    readonly options: Map<string, { type: string; opts: pulumi.CustomResourceOptions; props: Record<string, any> }>;
    readonly projectDir: string;
}

/**
 * Declares a stack from its committed file (plus overrides) under mocks. The registry password
 * is faked as a secret unless `withPassword` is false.
 */
export function declareMockStack(
    stack: string,
    opts: { overrides?: Record<string, unknown>; preview?: boolean; withPassword?: boolean; plainPassword?: boolean } = {},
): MockStack {
    const config = flatConfig(stack, opts.overrides);
    const secretKeys: string[] = [];
    if (opts.withPassword !== false) {
        config["truss-base-images:registryPassword"] = FAKE_PASSWORD;
        if (!opts.plainPassword) secretKeys.push("truss-base-images:registryPassword");
    }
    resetMocks({ config, secretKeys, preview: opts.preview, stack });
    const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), `truss-stack-${stack}-`));
    const options = new Map<string, { type: string; opts: pulumi.CustomResourceOptions; props: Record<string, any> }>();
    const declared = declareStack(readStackConfig(), projectDir, {
        transformations: [
            (args) => {
                options.set(args.name, { type: args.type, opts: args.opts as pulumi.CustomResourceOptions, props: args.props });
                return undefined;
            },
        ],
    });
    return { ...declared, options, projectDir };
}
