import type { CommandLine } from "./commandLine";
import { shellQuote } from "./commandLine";

/**
 * How the machine running Pulumi reaches a runner's Docker daemon: the system ssh client, with
 * the same options for the Docker provider, the readiness gate and the smoke tests, so that
 * they share one connection and one pinned host key.
 */

/** Where the ssh client keeps what it knows about the runners: pinned host keys, instance ids, control sockets. */
export const SSH_STATE_DIR = "~/.ssh/truss-base-images";
/** Host keys an operator records by hand, for an ssh:// host that has no pinned runner key (no alias). */
export const KNOWN_HOSTS_FILE = `${SSH_STATE_DIR}/known_hosts`;
/** `%C` is a hash of (local host, remote host, port, user): short enough for a socket path. */
export const CONTROL_PATH = `${SSH_STATE_DIR}/cm-%C`;
export const SSH_CONNECT_TIMEOUT_SECONDS = 15;

/** Characters a host alias may have: it names files and goes unquoted into a ProxyCommand. */
const SAFE_ALIAS = /^[A-Za-z0-9_.-]+$/;

/**
 * A runner's fixed ssh name, `<project>-<stack>-runner-<name>` (its Name tag): the HostKeyAlias
 * its pinned key is recorded under in both access modes (the pin does not depend on an address),
 * and the host name itself under Session Manager.
 */
export function runnerHostAlias(t: { readonly project: string; readonly stack: string; readonly runner: string }): string {
    return `${t.project}-${t.stack}-runner-${t.runner}`;
}

function checkedAlias(alias: string): string {
    if (!SAFE_ALIAS.test(alias)) throw new Error(`host alias ${JSON.stringify(alias)} may only have letters, digits, '_', '.' and '-'`);
    return alias;
}

/** The known_hosts file that pins a runner's host key, one per runner (written by the readiness gate and the smoke test). */
export function pinnedKnownHostsFile(alias: string): string {
    return `${SSH_STATE_DIR}/${checkedAlias(alias)}.known_hosts`;
}

/** The file that holds the EC2 instance id of a runner, from the stack's state: what the Session Manager ProxyCommand targets. */
export function pinnedInstanceFile(alias: string): string {
    return `${SSH_STATE_DIR}/${checkedAlias(alias)}.instance`;
}

/**
 * The ssh options of the Docker provider and of everything else that talks to a runner. `~` is
 * expanded by ssh itself: the options are the same text on every operator's machine, so the
 * provider's inputs do not change between machines.
 * - BatchMode: never prompt (a prompt would hang `pulumi up`);
 * - ControlMaster/ControlPersist: parallel builds share one authenticated connection;
 * - the runner's pinned host key only: StrictHostKeyChecking=yes against the runner's own
 *   known_hosts file, under its HostKeyAlias (not its address), no global known_hosts and no
 *   keys learned from the server. A host that does not prove the key the stack generated for
 *   the runner is refused before anything is sent to it; nothing is ever trusted on first use;
 * - keepalives, so a runner that stopped is noticed within a minute;
 * - a ProxyCommand when the runner is reached through a tunnel (Session Manager) rather than
 *   by its address.
 */
export function sshOptions(opts: SshAccess): string[] {
    const o = (kv: string) => ["-o", kv];
    const alias = opts.hostKeyAlias;
    return [
        ...o("BatchMode=yes"),
        ...o(`ConnectTimeout=${SSH_CONNECT_TIMEOUT_SECONDS}`),
        ...o("ServerAliveInterval=15"),
        ...o("ServerAliveCountMax=4"),
        ...o("StrictHostKeyChecking=yes"),
        ...o(`UserKnownHostsFile=${alias ? pinnedKnownHostsFile(alias) : KNOWN_HOSTS_FILE}`),
        ...o("GlobalKnownHostsFile=/dev/null"),
        ...o("UpdateHostKeys=no"),
        ...(alias ? o(`HostKeyAlias=${alias}`) : []),
        ...o("ControlMaster=auto"),
        ...o(`ControlPath=${CONTROL_PATH}`),
        ...o("ControlPersist=10m"),
        ...(opts.privateKeyPath ? ["-i", opts.privateKeyPath, ...o("IdentitiesOnly=yes")] : []),
        ...(opts.proxyCommand ? o(`ProxyCommand=${opts.proxyCommand}`) : []),
    ];
}

/**
 * What differs between operators, stacks and runners in the ssh options: the runner's host key
 * alias, the private key to use and the tunnel. The dynamic resources store this rather than the
 * whole option list (about 400 bytes each) and get the options from `sshOptions` where they run,
 * which gives the same text as the Docker provider has.
 */
export interface SshAccess {
    /** The runner's fixed name (runnerHostAlias): its pinned host key is recorded under it. */
    readonly hostKeyAlias?: string;
    readonly privateKeyPath?: string;
    readonly proxyCommand?: string;
}

/** The access with only the fields that are set; undefined when none is (what a resource stores then: nothing). */
export function sshAccessOf(opts: {
    readonly hostKeyAlias?: string;
    readonly privateKeyPath?: string;
    readonly proxyCommand?: string;
}): SshAccess | undefined {
    const access = {
        ...(opts.hostKeyAlias ? { hostKeyAlias: opts.hostKeyAlias } : {}),
        ...(opts.privateKeyPath ? { privateKeyPath: opts.privateKeyPath } : {}),
        ...(opts.proxyCommand ? { proxyCommand: opts.proxyCommand } : {}),
    };
    return Object.keys(access).length > 0 ? access : undefined;
}

/** A runner's Docker endpoint from its host and access: the options of `sshOptions` for ssh:// hosts, none for others. */
export function dockerEndpoint(host: string, access: SshAccess = {}): DockerEndpoint {
    return parseSshHost(host) ? { host, sshOpts: sshOptions(access) } : { host };
}

/** `ssh://ubuntu@203.0.113.10`: the Docker host of a runner (an address, or a name a ProxyCommand resolves). */
export function sshDockerHost(user: string, hostname: string): string {
    return `ssh://${user}@${hostname}`;
}

/** A Docker daemon as a client reaches it: `ssh://user@host` plus ssh options, or a local `unix://` socket. */
export interface DockerEndpoint {
    readonly host: string;
    /** Only for ssh:// hosts. */
    readonly sshOpts?: readonly string[];
}

/** `ssh://user@host[:port]` -> its parts; undefined for other schemes. */
export function parseSshHost(host: string): { user?: string; hostname: string; port?: number } | undefined {
    const m = /^ssh:\/\/(?:([^@/]+)@)?([^:/]+)(?::(\d+))?\/?$/.exec(host);
    if (!m) return undefined;
    return { user: m[1], hostname: m[2], port: m[3] ? Number(m[3]) : undefined };
}

/**
 * `ssh <options> [-p port] user@host -- <command>`: the ssh command line Docker's ssh transport
 * runs for the provider (`... -- docker system dial-stdio`), with another remote command. The
 * remote command is one shell string (ssh hands it to the login shell). `overrides` come first
 * because ssh keeps the first value it is given for an option.
 */
export function sshCommand(endpoint: DockerEndpoint, remote: string, overrides: readonly string[] = []): CommandLine {
    const ssh = parseSshHost(endpoint.host);
    if (!ssh) throw new Error(`${endpoint.host} is not an ssh:// Docker host`);
    const destination = ssh.user ? `${ssh.user}@${ssh.hostname}` : ssh.hostname;
    return {
        file: "ssh",
        args: [...overrides, ...(endpoint.sshOpts ?? []), "-T", ...(ssh.port ? ["-p", String(ssh.port)] : []), destination, "--", remote],
    };
}

/** `docker <args>` against an endpoint: the remote CLI over ssh, else the local CLI with `-H`. */
export function dockerCommand(endpoint: DockerEndpoint, dockerArgs: readonly string[]): CommandLine {
    if (parseSshHost(endpoint.host)) return sshCommand(endpoint, ["docker", ...dockerArgs].map(shellQuote).join(" "));
    return { file: "docker", args: ["-H", endpoint.host, ...dockerArgs] };
}
