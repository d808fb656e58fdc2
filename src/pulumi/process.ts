import { spawn } from "child_process";
import type { CommandLine } from "../runners/commandLine";

/**
 * Running a command with a deadline, for the readiness gate and the smoke tests: both run in
 * Pulumi's dynamic-provider process, which loads this module from the project like any other.
 */

export interface ProcessResult {
    /** The exit code; 127 when the program could not be started; 124 when killed at the deadline. */
    readonly exitCode: number;
    /** stdout and stderr, interleaved as they arrived. */
    readonly output: string;
    readonly timedOut: boolean;
}

/** Runs a command line (no shell), collecting its output; kills it when `timeoutMs` has passed. */
export function runProcess(command: CommandLine, opts: { readonly timeoutMs: number }): Promise<ProcessResult> {
    return new Promise((resolve) => {
        const chunks: Buffer[] = [];
        let timedOut = false;
        let settled = false;
        // Declared before `finish`, which clears it, and set after the child is spawned.
        // eslint-disable-next-line prefer-const
        let timer: ReturnType<typeof setTimeout> | undefined;
        const finish = (r: ProcessResult) => {
            if (settled) return;
            settled = true;
            if (timer) clearTimeout(timer);
            resolve(r);
        };
        const child = spawn(command.file, [...command.args], { stdio: ["ignore", "pipe", "pipe"] });
        child.stdout.on("data", (d: Buffer) => chunks.push(d));
        child.stderr.on("data", (d: Buffer) => chunks.push(d));
        child.once("error", (e) => finish({ exitCode: 127, output: `could not run ${command.file}: ${e.message}`, timedOut: false }));
        child.once("close", (code, signal) => {
            const output = Buffer.concat(chunks).toString("utf8");
            if (timedOut) finish({ exitCode: 124, output, timedOut: true });
            else finish({ exitCode: code ?? (signal ? 128 : 1), output, timedOut: false });
        });
        timer = setTimeout(
            () => {
                timedOut = true;
                child.kill("SIGTERM");
                setTimeout(() => child.kill("SIGKILL"), 2000).unref();
            },
            Math.max(0, opts.timeoutMs),
        );
    });
}
