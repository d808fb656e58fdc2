import type { Ec2BuildersConfig, RunnerAccess } from "../config/runners";
import { CommandLine, showCommand, tailLines } from "./commandLine";
import { DockerEndpoint, dockerCommand, parseSshHost, sshCommand } from "./ssh";
import { NO_INSTANCE_MESSAGE } from "./ssm";

/**
 * The readiness gate's checks, and how their results read: nothing builds on a runner until its
 * Docker daemon answers over the provider's own transport.
 */

/** The readiness gate waits this long for a runner (first boot of a GPU AMI takes minutes). */
export const READY_TIMEOUT_SECONDS = 900;

/** One check of the readiness gate and how to read its result. */
export interface ReadinessStep {
    /** What the step establishes, for messages: `cloud-init finished`. */
    readonly what: string;
    readonly command: CommandLine;
    /** Exit codes that mean success. */
    readonly okExitCodes: readonly number[];
}

/**
 * cloud-init's exit codes: 0 done, 2 done with recoverable errors (e.g. deprecated keys),
 * 1 failed. On failure, print what an operator needs: the status and the end of the log.
 */
const CLOUD_INIT_WAIT = [
    "cloud-init status --wait >/dev/null 2>&1; rc=$?",
    'if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then cloud-init status --long; tail -n 40 /var/log/cloud-init-output.log; fi',
    'exit "$rc"',
].join("; ");

/** `<server version> <runtime>,<runtime>,...` */
const DOCKER_INFO_FORMAT = "{{.ServerVersion}} {{range $name, $_ := .Runtimes}}{{$name}},{{end}}";

/**
 * The readiness gate's steps, in order. Over ssh: wait for cloud-init (on its own connection,
 * so that no shared connection is authenticated before setup added the user to the docker
 * group), close any shared connection older than that, then `docker info` over the provider's
 * very options. Locally: `docker info` only.
 */
export function readinessSteps(endpoint: DockerEndpoint, opts: { readonly waitForCloudInit: boolean }): ReadinessStep[] {
    const info: ReadinessStep = {
        what: "the Docker daemon answers `docker info`",
        command: dockerCommand(endpoint, ["info", "--format", DOCKER_INFO_FORMAT]),
        okExitCodes: [0],
    };
    if (!parseSshHost(endpoint.host)) return [info];
    const unshared = ["-o", "ControlMaster=no", "-o", "ControlPath=none"];
    const steps: ReadinessStep[] = [];
    if (opts.waitForCloudInit) {
        steps.push({
            what: "ssh answers and cloud-init finished",
            command: sshCommand(endpoint, CLOUD_INIT_WAIT, unshared),
            okExitCodes: [0, 2],
        });
    }
    steps.push({
        what: "no shared ssh connection predates the runner's setup",
        command: sshCommand(endpoint, "true", ["-O", "exit"]),
        okExitCodes: [0, 255],
    });
    steps.push(info);
    return steps;
}

/** What `docker info` with DOCKER_INFO_FORMAT printed. */
export function parseDockerInfo(stdout: string): { serverVersion: string; runtimes: string[] } {
    const [serverVersion = "", runtimes = ""] = stdout.trim().split(/\s+/, 2);
    return {
        serverVersion,
        runtimes: runtimes
            .split(",")
            .filter((r) => r !== "")
            .sort(),
    };
}

/** How a failed step's output reads: whether waiting longer can help, and what to tell the operator. */
export interface FailureReading {
    readonly retry: boolean;
    readonly hint?: string;
}

/**
 * Reads a failed readiness step. Failures that booting explains (no route yet, sshd not up,
 * the key not installed yet, the daemon starting) are retried until the deadline; the others
 * stop the wait at once. Hints name the config key or command that fixes the usual cause.
 */
export function readFailure(
    step: ReadinessStep,
    exitCode: number,
    output: string,
    context: { readonly host: string; readonly access?: RunnerAccess; readonly pinnedKnownHosts?: string },
): FailureReading {
    const ssm = readSsmFailure(output);
    if (ssm) return ssm;
    if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|host key is known for/i.test(output)) {
        return { retry: false, hint: hostKeyRefusedHint(context) };
    }
    if (/Could not resolve hostname/i.test(output)) return { retry: false, hint: "the runner's address does not resolve" };
    if (/timed out|No route to host|Network is unreachable/i.test(output)) {
        return {
            retry: true,
            hint:
                context.access === "ssm"
                    ? "the Session Manager tunnel did not answer: the instance may still be starting"
                    : "nothing answered on port 22: the instance may still be starting or be stopped, or your public address is not in builders.allowedCidrs",
        };
    }
    if (/Connection refused|Connection reset|Connection closed|kex_exchange_identification/i.test(output)) {
        return { retry: true, hint: "sshd refused or closed the connection: the instance is probably still booting" };
    }
    if (/Permission denied \(publickey/i.test(output)) {
        return {
            retry: true,
            hint: "ssh rejected the key: load the private key of builders.sshPublicKey into your ssh agent (ssh-add) or set builders.sshPrivateKeyPath",
        };
    }
    if (/permission denied while trying to connect to the docker (daemon|API)/i.test(output)) {
        return { retry: true, hint: "the ssh user is not (yet) in the docker group on the runner" };
    }
    if (/Cannot connect to the Docker daemon|Is the docker daemon running/i.test(output)) {
        return { retry: true, hint: "the Docker daemon is not running (yet) at this address" };
    }
    if (exitCode === 127 || /command not found/i.test(output)) {
        return { retry: false, hint: "a command the runner needs is missing: is the AMI the one the pool expects (builders.<pool>.ami)?" };
    }
    if (step.what.startsWith("ssh answers and cloud-init")) {
        if (exitCode === 255) return { retry: true };
        return {
            retry: false,
            hint: "the runner's setup (cloud-init user data) failed; its log is above. Fix the cause, then replace the instance (pulumi up --replace <its URN>)",
        };
    }
    return { retry: exitCode === 255 };
}

/**
 * Why a host that did not prove the runner's pinned key was refused, and what to check. The
 * key is installed before sshd first starts, so waiting does not help: either something else
 * answers for the runner, or the instance did not get its key.
 */
function hostKeyRefusedHint(context: { readonly access?: RunnerAccess; readonly pinnedKnownHosts?: string }): string {
    if (!context.pinnedKnownHosts) {
        return "the host's key is not recorded in the known_hosts file of the ssh options, and no key is ever trusted on first use";
    }
    const where =
        context.access === "ssm"
            ? "the instance the stack's state names"
            : "the host at this address (check which instance holds the runner's Elastic IP)";
    return (
        `the host did not prove the host key the stack generated for this runner (pinned in ${context.pinnedKnownHosts}), ` +
        `so nothing was sent to it. Either ${where} is not the runner, or the instance did not install its key at first boot ` +
        `(created before host keys were pinned, or its user data failed): replace it with pulumi up --replace <the instance's URN>`
    );
}

/** Error text that says which runner, at which address, failed which step, and what to do. */
export function notReadyMessage(args: {
    readonly runner: string;
    readonly host: string;
    readonly seconds: number;
    readonly timedOut: boolean;
    readonly step: ReadinessStep;
    readonly exitCode: number;
    readonly output: string;
    readonly hint?: string;
    readonly configHint?: string;
}): string {
    const when = args.timedOut ? `was not ready within ${args.seconds} s` : `is not usable`;
    const lines = [
        `Build runner ${args.runner} (${args.host}) ${when}: the check "${args.step.what}" failed (exit code ${args.exitCode}).`,
        `  command: ${showCommand(args.step.command)}`,
    ];
    const out = tailLines(args.output, 40);
    if (out) lines.push("  output:", ...out.split("\n").map((l) => `    ${l}`));
    if (args.hint) lines.push(`  likely cause: ${args.hint}`);
    if (args.configHint) lines.push(`  note: ${args.configHint}`);
    return lines.join("\n");
}

/**
 * Failures of the Session Manager ProxyCommand (the AWS CLI and its plugin on this machine),
 * which ssh reports only as a closed connection. Booting explains a missing instance or an SSM
 * agent not registered yet; it does not explain a missing tool or a refused credential.
 */
function readSsmFailure(output: string): FailureReading | undefined {
    if (/SessionManagerPlugin is not found|session-manager-plugin: not found/i.test(output)) {
        return {
            retry: false,
            hint: "the AWS CLI's Session Manager plugin is not installed on this machine; install it (session-manager-plugin), then run pulumi up again",
        };
    }
    if (/\baws: (command )?not found/.test(output)) {
        return {
            retry: false,
            hint: "the AWS CLI is not installed on this machine; builders.access: ssm needs it and its Session Manager plugin",
        };
    }
    if (/Unable to locate credentials|ExpiredToken|AccessDenied|UnauthorizedOperation|not authorized to perform/i.test(output)) {
        return {
            retry: false,
            hint: "the AWS CLI was refused: the identity running Pulumi needs credentials allowed ssm:StartSession on the runners (document AWS-StartSSHSession)",
        };
    }
    if (output.includes(NO_INSTANCE_MESSAGE)) {
        return { retry: false, hint: "the readiness gate did not record the instance id from the stack's state; run pulumi up again" };
    }
    if (/TargetNotConnected/.test(output)) {
        return {
            retry: true,
            hint: "the runner's SSM agent is not connected (yet): the instance may still be starting or be stopped, or its instance profile lacks AmazonSSMManagedInstanceCore",
        };
    }
    return undefined;
}

/** A note for the gate's errors when the config makes the runners unreachable. */
export function reachabilityNote(builders: Ec2BuildersConfig): string | undefined {
    if (builders.access === "ssh" && (builders.allowedCidrs ?? []).length === 0) {
        return 'builders.allowedCidrs is [], so the security group lets no one in over ssh; add your public address, e.g. ["203.0.113.7/32"]';
    }
    return undefined;
}
