import { pinnedInstanceFile, runnerHostAlias } from "./ssh";

/**
 * Reaching a runner through AWS Systems Manager Session Manager (`builders.access: ssm`): ssh
 * runs over a Session Manager tunnel that the runner's SSM agent opens from the inside, so the
 * runner takes no inbound connection at all. The Docker host is a fixed name per runner, and a
 * ProxyCommand opens the session to the instance the stack's state names, which the readiness
 * gate and the smoke test write to a file before they connect: the host is known at preview and
 * stays the same when the instance is replaced, and no other instance, however it is tagged, is
 * ever dialled.
 */

/** The AWS-managed policy the SSM agent needs to register the instance and open sessions. */
export const SSM_MANAGED_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
/** The Session Manager document that forwards a session to the instance's own sshd. */
export const SSM_SSH_DOCUMENT = "AWS-StartSSHSession";
/** Printed by the ProxyCommand when this machine has no instance id for the runner (the readiness gate writes it). */
export const NO_INSTANCE_MESSAGE = "this machine has no instance id from the Pulumi state for build runner";

/** The runner the ProxyCommand reaches. */
export interface SsmTarget {
    readonly project: string;
    readonly stack: string;
    /** `gpu-0` */
    readonly runner: string;
    /** The stack's AWS region; the AWS CLI's own default when unset. */
    readonly region?: string;
}

const SAFE = /^[A-Za-z0-9_.-]+$/;

/** The ssh host name of a runner under Session Manager: the runner's fixed alias, handled by the ProxyCommand, never by DNS. */
export function ssmHostAlias(t: SsmTarget): string {
    return runnerHostAlias(t);
}

/**
 * The ssh ProxyCommand that opens a Session Manager session to port 22 (ssh puts the port in
 * `%p`) of the instance whose id the stack's state holds, read from the runner's instance file
 * (pinnedInstanceFile). It needs the AWS CLI with the Session Manager plugin, and AWS
 * credentials allowed `ssm:StartSession`. ssh runs it with /bin/sh.
 */
export function ssmProxyCommand(t: SsmTarget): string {
    // The script is one single-quoted word: nothing in it may hold a single quote.
    for (const [key, value] of Object.entries(t)) {
        if (value !== undefined && !SAFE.test(value))
            throw new Error(`${key} ${JSON.stringify(value)} cannot go into the ssh ProxyCommand`);
    }
    const region = t.region ? ` --region ${t.region}` : "";
    const file = pinnedInstanceFile(ssmHostAlias(t)).replace(/^~\//, "$HOME/");
    const script = [
        `f="${file}"`,
        `id=$(cat "$f" 2>/dev/null) || id=""`,
        `case "$id" in i-*) ;; *) echo "${NO_INSTANCE_MESSAGE} ${t.runner} (project ${t.project}, stack ${t.stack}) in $f: the readiness gate writes it before it connects" >&2; exit 255 ;; esac`,
        `exec aws ssm start-session${region} --target "$id" --document-name ${SSM_SSH_DOCUMENT} --parameters portNumber=%p`,
    ].join("; ");
    return `sh -c '${script}'`;
}
