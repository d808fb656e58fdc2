/**
 * Reaching a runner through AWS Systems Manager Session Manager (`builders.access: ssm`): ssh
 * runs over a Session Manager tunnel that the runner's SSM agent opens from the inside, so the
 * runner takes no inbound connection at all. The Docker host is a fixed name per runner, and a
 * ProxyCommand finds the runner's current instance by its tags at connect time: the host is
 * known at preview and stays the same when the instance is replaced.
 */

/** The AWS-managed policy the SSM agent needs to register the instance and open sessions. */
export const SSM_MANAGED_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
/** The Session Manager document that forwards a session to the instance's own sshd. */
export const SSM_SSH_DOCUMENT = "AWS-StartSSHSession";
/** Printed by the ProxyCommand when no instance carries the runner's tags (stopped or not created). */
export const NO_INSTANCE_MESSAGE = "no pending or running EC2 instance carries the tags of build runner";

/** The runner as the ProxyCommand finds it: the tags every runner instance carries. */
export interface SsmTarget {
    readonly project: string;
    readonly stack: string;
    /** `gpu-0` */
    readonly runner: string;
    /** The stack's AWS region; the AWS CLI's own default when unset. */
    readonly region?: string;
}

const SAFE = /^[A-Za-z0-9_.-]+$/;

/** The ssh host name of a runner under Session Manager: the runner's Name tag, resolved by the ProxyCommand, never by DNS. */
export function ssmHostAlias(t: SsmTarget): string {
    return `${t.project}-${t.stack}-runner-${t.runner}`;
}

/**
 * The ssh ProxyCommand that finds the runner's newest pending or running instance by its tags
 * and opens a Session Manager session to its port 22 (ssh puts the port in `%p`). It needs
 * the AWS CLI with the Session Manager plugin, and AWS credentials allowed
 * `ec2:DescribeInstances` and `ssm:StartSession`. ssh runs it with /bin/sh.
 */
export function ssmProxyCommand(t: SsmTarget): string {
    for (const [key, value] of Object.entries(t)) {
        if (value !== undefined && !SAFE.test(value))
            throw new Error(`${key} ${JSON.stringify(value)} cannot go into the ssh ProxyCommand`);
    }
    const region = t.region ? ` --region ${t.region}` : "";
    const filters = [
        `Name=tag:project,Values=${t.project}`,
        `Name=tag:stack,Values=${t.stack}`,
        `Name=tag:runner,Values=${t.runner}`,
        "Name=instance-state-name,Values=pending,running",
    ].join(" ");
    const script = [
        `id=$(aws ec2 describe-instances${region} --filters ${filters} --query "sort_by(Reservations[].Instances[], &LaunchTime)[-1].InstanceId" --output text) || exit 255`,
        `case "$id" in i-*) ;; *) echo "${NO_INSTANCE_MESSAGE} ${t.runner} (project ${t.project}, stack ${t.stack}): it is stopped or does not exist yet" >&2; exit 255 ;; esac`,
        `exec aws ssm start-session${region} --target "$id" --document-name ${SSM_SSH_DOCUMENT} --parameters portNumber=%p`,
    ].join("; ");
    return `sh -c '${script}'`;
}
