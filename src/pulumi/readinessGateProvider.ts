import { mkdirSync, renameSync, writeFileSync } from "fs";
import { homedir } from "os";
import * as pulumi from "@pulumi/pulumi";
import type { RunnerAccess } from "../config/runners";
import { knownHostsLine } from "../runners/hostKey";
import { notReadyMessage, parseDockerInfo, readFailure, readinessSteps, ReadinessStep } from "../runners/readiness";
import {
    DockerEndpoint,
    dockerEndpoint,
    parseSshHost,
    pinnedInstanceFile,
    pinnedKnownHostsFile,
    SshAccess,
    SSH_STATE_DIR,
} from "../runners/ssh";
import { runProcess } from "./process";

/** What the readiness gate checks, and for how long. */
export interface ReadinessCheck {
    /** The runner's name for messages, e.g. gpu-0. */
    readonly runner: string;
    /** The daemon, reached exactly as the Docker provider reaches it (`ssh://...` and its options), or a local socket. */
    readonly endpoint: DockerEndpoint;
    /** How the runner is reached, for the hints of failures (ssh to its address, or Session Manager). */
    readonly access?: RunnerAccess;
    /** Over ssh: wait until cloud-init has finished the runner's first-boot setup. */
    readonly waitForCloudInit: boolean;
    /** A runtime Docker must offer, e.g. `nvidia` on a GPU runner. */
    readonly requireRuntime?: string;
    /** The whole wait is bounded by this. */
    readonly timeoutSeconds: number;
    /** Pause between attempts; 5 s unless given. */
    readonly retryIntervalSeconds?: number;
    /** A config fact worth reading when the runner cannot be reached (e.g. no allowed CIDRs). */
    readonly note?: string;
    /** What the stack's state says the runner is: its host key and instance, written where ssh reads them before any connection. */
    readonly pin?: RunnerPin;
}

/** A runner as the stack's state knows it: what ssh must find at the other end. */
export interface RunnerPin {
    /** The runner's HostKeyAlias (runnerHostAlias). */
    readonly alias: string;
    /** The public half of the host key the stack generated for the runner: `ssh-ed25519 AAAA...`. */
    readonly hostKey: string;
    /** The runner's EC2 instance: what the Session Manager ProxyCommand targets. */
    readonly instanceId?: string;
}

export interface Readiness {
    readonly serverVersion: string;
    readonly runtimes: readonly string[];
}

/**
 * A runner did not become ready; the message says which, where, what failed and what to do.
 * The engine shows only the message; the name lets the tests tell this failure from others.
 */
export function runnerNotReady(message: string): Error {
    const e = new Error(message);
    e.name = "RunnerNotReadyError";
    return e;
}

function expandHome(p: string): string {
    return p.startsWith("~/") ? `${homedir()}/${p.slice(2)}` : p;
}

/** Replaces a file at once (readers see the old or the new text, never a part), readable by this user only. */
function writeAtomically(file: string, text: string): void {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, file);
}

/**
 * Writes what the stack's state says about a runner where ssh reads it: the known_hosts file
 * that pins its host key (sshOptions with its hostKeyAlias) and, for the Session Manager
 * ProxyCommand, its instance id. Whatever an earlier run or another stack version wrote there
 * is replaced: the state is the only source.
 */
export function pinRunner(pin: RunnerPin): void {
    if (pin.instanceId !== undefined && !/^i-[0-9a-f]{8,32}$/.test(pin.instanceId)) {
        throw new Error(`runner ${pin.alias}: ${JSON.stringify(pin.instanceId)} is not an EC2 instance id (i-<hex>)`);
    }
    mkdirSync(expandHome(SSH_STATE_DIR), { recursive: true, mode: 0o700 });
    writeAtomically(expandHome(pinnedKnownHostsFile(pin.alias)), knownHostsLine(pin.alias, pin.hostKey));
    if (pin.instanceId !== undefined) writeAtomically(expandHome(pinnedInstanceFile(pin.alias)), `${pin.instanceId}\n`);
}

/** The pin of a runner from what a resource stores: its ssh access (the alias), host key and instance; undefined without a key. */
export function pinOf(ssh: SshAccess | undefined, hostKey: string | undefined, instanceId: string | undefined): RunnerPin | undefined {
    if (!ssh?.hostKeyAlias || !hostKey) return undefined;
    return { alias: ssh.hostKeyAlias, hostKey, ...(instanceId ? { instanceId } : {}) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the runner's Docker daemon answers over the endpoint, for at most
 * `timeoutSeconds`. Failures that booting explains are retried; the others, and the last one
 * at the deadline, throw an error (runnerNotReady) naming the runner, the failed check, its
 * output and the likely cause.
 */
export async function waitUntilReady(check: ReadinessCheck): Promise<Readiness> {
    const started = Date.now();
    const deadline = started + check.timeoutSeconds * 1000;
    const interval = (check.retryIntervalSeconds ?? 5) * 1000;
    if (parseSshHost(check.endpoint.host)) {
        mkdirSync(expandHome(SSH_STATE_DIR), { recursive: true, mode: 0o700 });
        if (check.pin) pinRunner(check.pin);
    }
    const pinnedKnownHosts = check.pin && pinnedKnownHostsFile(check.pin.alias);
    const steps = readinessSteps(check.endpoint, { waitForCloudInit: check.waitForCloudInit });
    const fail = (a: { step: ReadinessStep; exitCode: number; output: string; hint?: string; timedOut: boolean }) =>
        runnerNotReady(
            notReadyMessage({
                ...a,
                runner: check.runner,
                host: check.endpoint.host,
                seconds: check.timeoutSeconds,
                configHint: check.note,
            }),
        );
    type Failure = { step: ReadinessStep; exitCode: number; output: string; hint?: string; retry: boolean };
    let last: Failure | undefined;
    for (;;) {
        let failure: Failure | undefined;
        for (const step of steps) {
            const remaining = deadline - Date.now();
            if (remaining <= 0) break;
            const r = await runProcess(step.command, { timeoutMs: remaining });
            if (r.timedOut) {
                // The deadline cut this attempt short; the previous failure, if any, says more.
                failure = last
                    ? { ...last, retry: true }
                    : { step, exitCode: r.exitCode, output: r.output, hint: "the check did not finish before the deadline", retry: true };
                break;
            }
            if (!step.okExitCodes.includes(r.exitCode)) {
                const reading = readFailure(step, r.exitCode, r.output, {
                    host: check.endpoint.host,
                    access: check.access,
                    pinnedKnownHosts,
                });
                failure = { step, exitCode: r.exitCode, output: r.output, hint: reading.hint, retry: reading.retry };
                break;
            }
            if (step !== steps[steps.length - 1]) continue;
            const info = parseDockerInfo(r.output);
            if (check.requireRuntime && !info.runtimes.includes(check.requireRuntime)) {
                throw fail({
                    step,
                    exitCode: r.exitCode,
                    output: r.output,
                    timedOut: false,
                    hint: `Docker on the runner has no ${check.requireRuntime} runtime (it has: ${info.runtimes.join(", ") || "none"}); the runner's setup should have configured it`,
                });
            }
            return info;
        }
        last = failure ?? last;
        if (!last)
            throw runnerNotReady(
                `Build runner ${check.runner} (${check.endpoint.host}): the readiness wait of ${check.timeoutSeconds} s ended before any check ran.`,
            );
        if (failure && !failure.retry) throw fail({ ...failure, timedOut: false });
        if (Date.now() >= deadline) throw fail({ ...last, timedOut: true });
        await sleep(Math.min(interval, deadline - Date.now()));
    }
}

/** The inputs of a readiness gate, as its dynamic provider receives them. */
interface GateInputs {
    readonly runner: string;
    readonly host: string;
    readonly ssh?: SshAccess;
    readonly access?: RunnerAccess;
    readonly waitForCloudInit: boolean;
    readonly requireRuntime?: string;
    readonly timeoutSeconds: number;
    readonly note?: string;
    readonly instanceId?: string;
    /** The public half of the runner's host key, from the stack's state. */
    readonly hostKey?: string;
    /** The runner's address as the stack's Elastic IP has it; checked against `host` before waiting. */
    readonly expectedHost?: string;
    /** The images this update builds on the runner; empty when it builds none. */
    readonly builds: string[];
}

async function checkIfBuilding(inputs: GateInputs): Promise<Record<string, unknown>> {
    if (inputs.builds.length === 0) return { ...inputs };
    if (inputs.expectedHost !== undefined && inputs.expectedHost !== inputs.host) {
        throw runnerNotReady(
            `Build runner ${inputs.runner}: the Docker provider would reach ${inputs.host}, but the runner's Elastic IP is ${inputs.expectedHost}. ` +
                `Another address carries this runner's tags; remove it (or its tags) and run pulumi up again.`,
        );
    }
    const ready = await waitUntilReady({
        runner: inputs.runner,
        endpoint: dockerEndpoint(inputs.host, inputs.ssh),
        access: inputs.access,
        waitForCloudInit: inputs.waitForCloudInit,
        requireRuntime: inputs.requireRuntime,
        timeoutSeconds: inputs.timeoutSeconds,
        note: inputs.note,
        pin: pinOf(inputs.ssh, inputs.hostKey, inputs.instanceId),
    });
    return { ...inputs, dockerVersion: ready.serverVersion };
}

/**
 * The gate's provider. It checks only in an update that builds on the runner, and it checks
 * every time there is something to build (a runner may have stopped itself since the last
 * check); with nothing to build it reports no change at all, so a quiet preview stays quiet.
 */
export const readinessGateImplementation: pulumi.dynamic.ResourceProvider = {
    async diff(_id: string, _olds: Record<string, unknown>, news: Record<string, unknown>) {
        return { changes: Array.isArray(news.builds) && news.builds.length > 0 };
    },
    async create(inputs: Record<string, unknown>) {
        const outs = await checkIfBuilding(inputs as unknown as GateInputs);
        return { id: `${String(inputs.runner)}-ready`, outs };
    },
    async update(_id: string, _olds: Record<string, unknown>, news: Record<string, unknown>) {
        return { outs: await checkIfBuilding(news as unknown as GateInputs) };
    },
};
