import { randomBytes } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { showCommand, tailLines } from "../runners/commandLine";
import { dockerCommand, DockerEndpoint, dockerEndpoint, parseSshHost, SshAccess } from "../runners/ssh";
import { SmokeImports, smokeCleanupDockerArgs, smokeContainerName, smokeTestDockerArgs } from "../runners/smoke";
import type { SmokeChecks } from "../runners/smokeChecks";
import type { ImageSpec } from "../images/spec";
import { runProcess } from "./process";
import { pinOf, pinRunner } from "./readinessGateProvider";

/** How long removing a timed-out smoke test's container may take. */
const CLEANUP_TIMEOUT_MS = 60_000;

/** What one smoke test runs, and where. */
export interface SmokeRun {
    /** The image to test, by digest: `docker.io/baseten/truss-server-base@sha256:...`. */
    readonly image: string;
    readonly spec: ImageSpec;
    /** The import names of its requirements (and its control server's), each checked. */
    readonly imports?: SmokeImports;
    /** Which checks (smokeChecksFor); the full test of the image's accelerator when absent. */
    readonly checks?: SmokeChecks;
    /** The daemon of the runner that built it (or a local socket). */
    readonly endpoint: DockerEndpoint;
    /** For messages: the runner's name. */
    readonly runner: string;
    readonly timeoutSeconds: number;
}

export interface SmokeResult {
    /** What the container printed. */
    readonly output: string;
}

/** A smoke test failed; the message holds the container's output. (A plain Error: see runnerNotReady.) */
export function smokeTestFailed(message: string): Error {
    const e = new Error(message);
    e.name = "SmokeTestError";
    return e;
}

/**
 * Runs the smoke test of an image in a named container on the endpoint; throws an error
 * (smokeTestFailed) with the container's output on failure. On timeout it removes the container
 * (a hung one would otherwise run on, holding the runner's GPU and disk).
 */
export async function runSmokeTest(run: SmokeRun): Promise<SmokeResult> {
    const name = smokeContainerName(run.image, randomBytes(4).toString("hex"));
    const args = smokeTestDockerArgs(run.image, run.spec, run.imports, run.checks ?? run.spec.accelerator, name);
    const command = dockerCommand(run.endpoint, args);
    const r = await runProcess(command, { timeoutMs: run.timeoutSeconds * 1000 });
    if (r.exitCode === 0 && !r.timedOut) return { output: r.output };
    let why = `failed (exit code ${r.exitCode})`;
    if (r.timedOut) {
        const rm = await runProcess(dockerCommand(run.endpoint, smokeCleanupDockerArgs(name)), { timeoutMs: CLEANUP_TIMEOUT_MS });
        const removed =
            rm.exitCode === 0 && !rm.timedOut
                ? `its container ${name} was removed`
                : `removing its container ${name} failed too (${tailLines(rm.output, 3).replace(/\n/g, " ") || `exit code ${rm.exitCode}`}): remove it by hand`;
        why = `did not finish within ${run.timeoutSeconds} s; ${removed}`;
    }
    const shown = showCommand({ file: command.file, args: command.args.map((a) => (a.length > 200 ? `${a.slice(0, 60)}...` : a)) });
    throw smokeTestFailed(
        [
            `Smoke test of ${run.image} on runner ${run.runner} ${why}.`,
            `  command: ${shown}`,
            "  output:",
            ...tailLines(r.output, 80)
                .split("\n")
                .map((l) => `    ${l}`),
        ].join("\n"),
    );
}

interface SmokeInputs {
    readonly image: string;
    readonly digest: string;
    readonly spec: ImageSpec;
    readonly imports?: SmokeImports;
    readonly checks?: SmokeChecks;
    readonly runner: string;
    readonly host: string;
    readonly ssh?: SshAccess;
    readonly hostKey?: string;
    readonly instanceId?: string;
    readonly timeoutSeconds: number;
}

async function smoke(inputs: SmokeInputs): Promise<Record<string, unknown>> {
    // The runner as the state knows it, written where ssh reads it: a test may run in an update
    // whose readiness gate did not (a retried test), or on a machine that never ran one.
    const pin = parseSshHost(inputs.host) ? pinOf(inputs.ssh, inputs.hostKey, inputs.instanceId) : undefined;
    if (pin) pinRunner(pin);
    await runSmokeTest({
        image: inputs.image,
        spec: inputs.spec,
        imports: inputs.imports,
        ...(inputs.checks ? { checks: inputs.checks } : {}),
        endpoint: dockerEndpoint(inputs.host, inputs.ssh),
        runner: inputs.runner,
        timeoutSeconds: inputs.timeoutSeconds,
    });
    return { ...inputs, testedDigest: inputs.digest };
}

/**
 * The smoke test's provider: it runs when the image's digest changes and at no other time (a
 * runner's address or options changing is no reason to test a published image again). A new
 * digest replaces the resource, so create is the one method that tests; there is no update or
 * delete.
 */
export const smokeTestImplementation: pulumi.dynamic.ResourceProvider = {
    async diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
        return olds.digest !== news.digest ? { changes: true, replaces: ["digest"], deleteBeforeReplace: false } : { changes: false };
    },
    async create(inputs: Record<string, unknown>) {
        const outs = await smoke(inputs as unknown as SmokeInputs);
        return { id: String(inputs.digest), outs };
    },
};
