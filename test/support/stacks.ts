// Declaring whole stacks under Pulumi's mock runtime: the committed stack files, flattened into
// the string config the Pulumi engine hands a program, with secrets faked (the CLI that could
// decrypt `secure:` values is not on our machines).
import { createHash } from "crypto";
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
import { mockOutputs, recorded, RecordedCall, recordedCalls, RecordedResource, resetMocks, valueOf } from "./pulumiMocks";

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

/** A resource as the program declared it: type, name, options and inputs (Outputs and all), and the resource. */
export interface DeclaredResource {
    readonly type: string;
    readonly name: string;
    readonly opts: pulumi.CustomResourceOptions;
    readonly props: Record<string, any>;
    readonly resource: pulumi.Resource;
}

export interface MockStack extends DeclaredStack {
    /** Options and inputs (as the program passed them, Outputs and all) of every resource, by name. */
    readonly options: Map<string, { type: string; opts: pulumi.CustomResourceOptions; props: Record<string, any> }>;
    /** Every resource the program declared, in order. */
    readonly declared: readonly DeclaredResource[];
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
    const resources: DeclaredResource[] = [];
    const declared = declareStack(config, plan, projectDir, {
        transformations: [
            (args) => {
                const opts = args.opts as pulumi.CustomResourceOptions;
                options.set(args.name, { type: args.type, opts, props: args.props });
                resources.push({ type: args.type, name: args.name, opts, props: args.props, resource: args.resource });
                return undefined;
            },
        ],
    });
    return { ...declared, options, declared: resources, projectDir };
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

/** The digest every push of a build reports under fakePushes. */
export const PUSHED_DIGEST = `sha256:${"ab".repeat(32)}`;

/** What an EstargzImage reports as its converted image's digest under fakePushes: a function of its target. */
export const convertedDigestOf = (target: string): string => `sha256:${createHash("sha256").update(target).digest("hex")}`;

/** What the registry would answer: each build's push (PUSHED_DIGEST), each eStargz conversion (convertedDigestOf), each smoked staging tag (its source's digest). */
export function fakePushes(): void {
    mockOutputs("docker:index/image:Image", (args) => ({
        repoDigest: `${String(args.inputs.imageName).replace(/:[^:/]+$/, "")}@${PUSHED_DIGEST}`,
    }));
    mockOutputs("pulumi-nodejs:dynamic/truss-base-images:EstargzImage", (args) => ({
        digest: convertedDigestOf(String(args.inputs.target)),
    }));
    // A smoked staging tag is a copy of the image that passed: the same manifest digest.
    mockOutputs("pulumi-nodejs:dynamic/truss-base-images:SmokedStagingTag", (args) => ({ digest: args.inputs.sourceDigest }));
}

/**
 * Waits until every declared resource is registered, also those declared meanwhile (`current`
 * is read again until it stops growing), and then until `output`, if given, is known.
 */
export async function settle(
    current: () => readonly { readonly resource: pulumi.Resource }[],
    output?: pulumi.Output<unknown>,
): Promise<void> {
    let n = -1;
    while (n !== current().length) {
        const declared = current();
        n = declared.length;
        await Promise.all(declared.map((d) => valueOf(d.resource.urn)));
    }
    if (output) await valueOf(output);
}

/** A declaration kept for groups of assertions: with a copy of what the mock engine saw, which the next declaration clears. */
export interface KeptStack extends MockStack {
    readonly resources: readonly RecordedResource[];
    readonly calls: readonly RecordedCall[];
}

let committedProd: Promise<KeptStack> | undefined;

/**
 * Pulumi.prod.yaml as committed (the password faked as a secret; every image to build; pushes
 * faked by fakePushes), declared once for the test process: every group of assertions on it, in
 * any spec, reads the same declaration, registered and with its output resolved.
 */
export function prodAsCommitted(): Promise<KeptStack> {
    committedProd ??= (async () => {
        const stack = declareMockStack("prod");
        fakePushes();
        await settle(() => stack.declared, stack.output);
        return { ...stack, resources: [...recorded()], calls: [...recordedCalls()] };
    })();
    return committedProd;
}
