// Declaring whole stacks under Pulumi's mock runtime: the committed stack files, flattened into
// the string config the Pulumi engine hands a program, with secrets faked (the CLI that could
// decrypt `secure:` values is not on our machines).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { offlinePlan, PublishPlan } from "../../src/publish/publishPlan";
import { PulumiStackConfig, readStackConfig } from "../../src/pulumi/config";
import { lookUpPublishPlan } from "../../src/pulumi/lookUpPlan";
import { declareStack, DeclaredStack } from "../../src/pulumi/stack";
import { mockAwsLookups } from "./aws";
import { fixtureCheckout } from "./trussCheckouts";
import { resetMocks } from "./pulumiMocks";

export const PROJECT_DIR = path.resolve(__dirname, "..", "..");
export const FAKE_PASSWORD = "fake-docker-hub-token-for-tests";

/**
 * Pulumi.<stack>.yaml as the engine passes it: `ns:key` -> string (objects as JSON). prod's
 * Truss checkout (../truss as committed) is the "today" fixture checkout unless overridden.
 */
export function flatConfig(stack: string, overrides: Record<string, unknown> = {}): Record<string, string> {
    const doc = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8"));
    const out: Record<string, string> = {};
    const fixture = stack === "prod" ? { "truss-base-images:truss": { checkout: fixtureCheckout("today") } } : {};
    const entries = { ...(doc.config ?? {}), ...fixture, ...overrides };
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

interface MockStackOptions {
    overrides?: Record<string, unknown>;
    preview?: boolean;
    withPassword?: boolean;
    plainPassword?: boolean;
}

const tempDirs: string[] = [];
process.on("exit", () => {
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** Installs the mocks for a stack's committed file (plus overrides) and reads its config as the program does. */
function prepare(stack: string, opts: MockStackOptions): () => PulumiStackConfig {
    const config = flatConfig(stack, opts.overrides);
    const secretKeys: string[] = [];
    if (opts.withPassword !== false) {
        config["truss-base-images:registryPassword"] = FAKE_PASSWORD;
        if (!opts.plainPassword) secretKeys.push("truss-base-images:registryPassword");
    }
    resetMocks({ config, secretKeys, preview: opts.preview, stack });
    mockAwsLookups();
    return () => readStackConfig();
}

function declare(stack: string, config: PulumiStackConfig, plan: PublishPlan): MockStack {
    const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), `truss-stack-${stack}-`));
    tempDirs.push(projectDir);
    const options = new Map<string, { type: string; opts: pulumi.CustomResourceOptions; props: Record<string, any> }>();
    const declared = declareStack(config, plan, projectDir, {
        transformations: [
            (args) => {
                options.set(args.name, { type: args.type, opts: args.opts as pulumi.CustomResourceOptions, props: args.props });
                return undefined;
            },
        ],
    });
    return { ...declared, options, projectDir };
}

/**
 * Declares a stack from its committed file (plus overrides) under mocks, without asking a
 * registry: every image is built. The registry password is faked as a secret unless
 * `withPassword` is false. AWS look-ups are mocked (test/support/aws.ts).
 */
export function declareMockStack(stack: string, opts: MockStackOptions = {}): MockStack {
    const config = prepare(stack, opts)();
    return declare(stack, config, offlinePlan(config.config, config.catalog));
}

/** As declareMockStack, with the publish plan the program gets from the (real) registry the config names. */
export async function declareMockStackFromRegistry(
    stack: string,
    opts: MockStackOptions = {},
): Promise<MockStack & { plan: PublishPlan["images"] }> {
    const config = prepare(stack, opts)();
    return declare(stack, config, await lookUpPublishPlan(config));
}
