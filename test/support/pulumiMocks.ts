// Pulumi's mock runtime, installed once before any test declares a resource (mocha --require).
// Every registered resource is recorded so that tests can assert on what a stack declares.
import * as pulumi from "@pulumi/pulumi";
import { runnerHostKeyOutputs } from "../../src/pulumi/runnerHostKeyProvider";

// Pulumi takes a stack trace for every resource (its source position) and every internal promise
// (leak diagnostics), each with `new Error()` and no message: thousands per declared stack. Mapped
// back to TypeScript by ts-node's source-map hook, those traces were three quarters of the time to
// declare a stack under mocks; in V8's plain format, ten frames deep, still a fifth of it. Nothing
// here reads them (the mocks ignore source positions): they are just "Error", with the ten plain
// frames only when PULUMI_DEBUG_PROMISE_LEAKS has Pulumi print leaked promises' traces. Every error
// with a message (an assertion, a thrown error) is still mapped to the TypeScript lines.
const mapToTypeScript = Error.prepareStackTrace;
const leakTraceFrames = process.env.PULUMI_DEBUG_PROMISE_LEAKS ? 10 : 0;
if (mapToTypeScript) {
    Error.prepareStackTrace = (error, frames) =>
        error instanceof Error && error.message === "" && error.constructor === Error
            ? [String(error), ...frames.slice(0, leakTraceFrames).map((f) => `    at ${String(f)}`)].join("\n")
            : mapToTypeScript(error, frames);
}

export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    readonly inputs: Record<string, unknown>;
    readonly id: string;
}

export interface RecordedCall {
    readonly token: string;
    readonly inputs: Record<string, unknown>;
}

const state = {
    resources: [] as RecordedResource[],
    calls: [] as RecordedCall[],
    preview: false,
    /** Outputs a test wants a resource type to have beyond its inputs. */
    outputs: new Map<string, (args: pulumi.runtime.MockResourceArgs) => Record<string, unknown>>(),
    /** Results of invokes (data sources) by token. */
    invokes: new Map<string, (args: pulumi.runtime.MockCallArgs) => Record<string, unknown>>(),
};

/**
 * Outputs a resource type has unless a test says otherwise: what its provider's create makes.
 * A runner's host key is made by the same code the engine runs (a fresh key per resource).
 */
const DEFAULT_OUTPUTS = new Map<string, (args: pulumi.runtime.MockResourceArgs) => Record<string, unknown>>([
    ["pulumi-nodejs:dynamic/truss-base-images:RunnerHostKey", (args) => runnerHostKeyOutputs(String(args.inputs.alias))],
]);

function install(preview: boolean, stack: string): void {
    state.preview = preview;
    void pulumi.runtime.setMocks(
        {
            newResource(args) {
                const extra = (state.outputs.get(args.type) ?? DEFAULT_OUTPUTS.get(args.type))?.(args) ?? {};
                const id = `${args.name}-id`;
                state.resources.push({ type: args.type, name: args.name, inputs: args.inputs, id });
                // In preview, outputs the mock leaves out are unknown: only inputs are known.
                return { id: preview ? (undefined as unknown as string) : id, state: { ...args.inputs, ...(preview ? {} : extra) } };
            },
            call(args) {
                state.calls.push({ token: args.token, inputs: args.inputs });
                const f = state.invokes.get(args.token);
                if (!f) throw new Error(`no mock result for invoke ${args.token}`);
                return f(args);
            },
        },
        "truss-base-images",
        stack,
        preview,
    );
}

install(false, "test");

/** Starts a fresh mock deployment: config, preview mode, and an empty record. */
export function resetMocks(opts: { config?: Record<string, string>; secretKeys?: string[]; preview?: boolean; stack?: string } = {}): void {
    state.resources.length = 0;
    state.calls.length = 0;
    state.outputs.clear();
    state.invokes.clear();
    pulumi.runtime.setAllConfig(opts.config ?? {}, opts.secretKeys ?? []);
    install(opts.preview ?? false, opts.stack ?? "test");
}

export function recorded(): readonly RecordedResource[] {
    return state.resources;
}

export function recordedCalls(): readonly RecordedCall[] {
    return state.calls;
}

export function mockOutputs(type: string, f: (args: pulumi.runtime.MockResourceArgs) => Record<string, unknown>): void {
    state.outputs.set(type, f);
}

export function mockInvoke(token: string, f: (args: pulumi.runtime.MockCallArgs) => Record<string, unknown>): void {
    state.invokes.set(token, f);
}

/** Resolves an Output outside of apply, so assertions fail the test rather than time out. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/** Whether an Output is known (not unknown at preview) and secret. */
export async function describeOutput<T>(output: pulumi.Output<T>): Promise<{ known: boolean; secret: boolean }> {
    const o = output as unknown as { isKnown: Promise<boolean>; isSecret: Promise<boolean> };
    return { known: await o.isKnown, secret: await o.isSecret };
}
