import * as docker from "@pulumi/docker";
import * as ec2 from "@pulumi/aws/ec2";
import * as ec2transitgateway from "@pulumi/aws/ec2transitgateway";
import * as iam from "@pulumi/aws/iam";
import * as pulumi from "@pulumi/pulumi";
import { parseCidr, worldOpenCidrs } from "../config/cidr";
import { hasNvidiaGpu } from "../config/instanceTypes";
import type { PoolConfig, RunnerAccess, RunnerPool } from "../config/runners";
import { amiQueryFor } from "../runners/amis";
import { runnerId, RunnerId } from "../runners/pools";
import { READY_TIMEOUT_SECONDS } from "../runners/readiness";
import { runnerHostAlias, SshAccess, sshAccessOf, sshDockerHost, sshOptions } from "../runners/ssh";
import { SSM_MANAGED_POLICY_ARN, ssmHostAlias, ssmProxyCommand } from "../runners/ssm";
import { runnerTags } from "../runners/awsTags";
import { renderUserData } from "../runners/userData";
import { ReadinessGate } from "./readinessGate";
import { RunnerHostKey } from "./runnerHostKey";
import { WorkTicket } from "./workTicket";

export interface BuildRunnerArgs {
    /**
     * `gpu` (linux/amd64 GPU images), `cpu` (linux/amd64 CPU images) or `arm64` (every
     * linux/arm64 image). Types with an NVIDIA GPU get the Deep Learning Base GPU AMI of their
     * architecture, checked for the NVIDIA runtime; others Ubuntu 22.04 with Docker from its archive.
     */
    readonly pool: RunnerPool;
    /** The pool's config: instance type, count, root volume size in GiB, AMI override, spot. */
    readonly config: PoolConfig;
    /** The account builds run as over ssh (created by the user data when the AMI lacks it). */
    readonly sshUser: string;
    /** The operator's public key, installed for `sshUser`. No private key ever reaches the stack. */
    readonly sshPublicKey: string;
    /** The private key file the ssh client uses; the ssh agent when unset. Only a path. */
    readonly sshPrivateKeyPath?: string;
    /**
     * `ssh`: the Docker provider connects to the runner's Elastic IP, which the security group
     * opens on port 22 to `allowedCidrs`. `ssm`: it connects through a Session Manager tunnel
     * (the instance profile gets AmazonSSMManagedInstanceCore) and nothing comes in at all.
     */
    readonly access: RunnerAccess;
    /** With `ssh`: CIDR blocks the security group lets in on port 22; [] lets no one in. */
    readonly allowedCidrs: readonly string[];
    /** The stack's AWS region, for the Session Manager ProxyCommand (the AWS CLI's default when unset). */
    readonly region?: string;
    /** The runners power themselves off after this many minutes without work. */
    readonly idleStopMinutes: number;
    /**
     * Per runner of the pool, by index: the images this update builds on it (sorted
     * references), empty when it builds none. A runner with builds is started and checked; a
     * runner without builds is left exactly as it is, so a preview with nothing to build shows
     * no change.
     */
    readonly builds: readonly (readonly string[])[];
    /** `project` and `stack`, for the tags of every resource. */
    readonly project: string;
    readonly stack: string;
    /** Shown with readiness failures: a config fact that explains them. */
    readonly note?: string;
    /** How long the readiness gate waits for a runner; READY_TIMEOUT_SECONDS unless given. */
    readonly readyTimeoutSeconds?: number;
}

/** One runner of a pool: an instance with its own Elastic IP, and how builds reach it. */
export interface Runner {
    readonly id: RunnerId;
    readonly instance: ec2.Instance;
    readonly eip: ec2.Eip;
    /** The runner's ssh host key: installed by its user data, pinned by the gate and the smoke tests. */
    readonly hostKey: RunnerHostKey;
    /**
     * `ssh://<sshUser>@<Elastic IP>` (access ssh): known at preview once the Elastic IP exists;
     * `ssh://<sshUser>@<project>-<stack>-runner-<name>` (access ssm): always known.
     */
    readonly host: pulumi.Output<string>;
    /** The Docker provider's ssh options: `sshOptions(sshAccess)`. */
    readonly sshOpts: readonly string[];
    /** The host key alias, private key and tunnel the options are made from; what the readiness gate and smoke tests store. */
    readonly sshAccess: SshAccess;
    /** The Docker provider of this runner: builds and pushes run on its daemon. */
    readonly provider: docker.Provider;
    /** Images that build on this runner depend on it. */
    readonly ready: ReadinessGate;
}

/**
 * The EC2 build runners of one pool: per runner an instance (IMDSv2 only, hop limit 1,
 * encrypted gp3 root volume, shutdown behaviour "stop", optional spot), an Elastic IP that
 * survives instance replacement, its power state, a readiness gate and a Docker provider over
 * ssh; per pool a security group (ssh from the allowed CIDRs only, or no ingress at all under
 * Session Manager) and an instance role with no permissions beyond what Session Manager needs
 * (builds call no AWS API). Tags on every AWS resource.
 */
export class BuildRunner extends pulumi.ComponentResource {
    public readonly runners: readonly Runner[];
    public readonly securityGroup: ec2.SecurityGroup;
    public readonly role: iam.Role;
    public readonly instanceProfile: iam.InstanceProfile;

    constructor(name: string, args: BuildRunnerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("truss-base-images:index:BuildRunner", name, {}, opts);
        const { pool, config } = args;
        const poolTags = runnerTags({ project: args.project, stack: args.stack, pool });
        const ssm = args.access === "ssm";
        const nvidiaGpu = hasNvidiaGpu(config.instanceType);

        const allowedCidrs = ssm ? [] : args.allowedCidrs;
        const open = worldOpenCidrs(allowedCidrs);
        if (open.length > 0) {
            void pulumi.log.warn(
                `builders.allowedCidrs contains ${open.join(", ")}: ssh to the ${pool} build runners is open to the whole internet`,
                this,
            );
        }
        this.securityGroup = new ec2.SecurityGroup(
            `${name}-sg`,
            {
                description: ssm
                    ? `truss-base-images ${pool} build runners: no inbound at all (ssh over Session Manager)`
                    : `truss-base-images ${pool} build runners: ssh from builders.allowedCidrs only`,
                ingress: allowedCidrs.map((cidr) => ({
                    description: "ssh (builders.allowedCidrs)",
                    protocol: "tcp",
                    fromPort: 22,
                    toPort: 22,
                    ...(parseCidr(cidr)?.family === 6 ? { ipv6CidrBlocks: [cidr] } : { cidrBlocks: [cidr] }),
                })),
                egress: [
                    {
                        description: "builds pull parents and packages, and push to the registry",
                        protocol: "-1",
                        fromPort: 0,
                        toPort: 0,
                        cidrBlocks: ["0.0.0.0/0"],
                        ipv6CidrBlocks: ["::/0"],
                    },
                ],
                tags: poolTags,
            },
            { parent: this },
        );

        this.role = new iam.Role(
            `${name}-role`,
            {
                description: ssm
                    ? "truss-base-images build runners: Session Manager only (AmazonSSMManagedInstanceCore); builds need no AWS API"
                    : "truss-base-images build runners: no permissions; builds need no AWS API",
                assumeRolePolicy: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
                }),
                tags: poolTags,
            },
            { parent: this },
        );
        if (ssm) {
            // The SSM agent (in both AMIs) registers the instance and opens the tunnels with it.
            new iam.RolePolicyAttachment(`${name}-ssm`, { role: this.role.name, policyArn: SSM_MANAGED_POLICY_ARN }, { parent: this });
        }
        this.instanceProfile = new iam.InstanceProfile(`${name}-profile`, { role: this.role.name, tags: poolTags }, { parent: this });

        // A new AMI release must not replace running runners: the looked-up id is ignored once an
        // instance exists. An `ami` in config is an explicit choice, and changing it replaces them.
        const query = amiQueryFor(pool, config.instanceType);
        const ami =
            config.ami ??
            ec2.getAmiOutput(
                {
                    owners: [...query.owners],
                    mostRecent: true,
                    filters: [
                        { name: "name", values: [query.name] },
                        { name: "architecture", values: [query.architecture] },
                        { name: "state", values: ["available"] },
                    ],
                },
                { parent: this },
            ).id;
        const runners: Runner[] = [];
        for (let index = 0; index < config.count; index++) {
            const id = runnerId(pool, index);
            const rname = `${name}-${index}`;
            const tags = runnerTags({ project: args.project, stack: args.stack, pool, runner: id });
            const builds = [...(args.builds[index] ?? [])];
            const target = { project: args.project, stack: args.stack, runner: id.name, region: args.region };
            const alias = runnerHostAlias(target);

            // The host key exists before the instance: its user data installs it before sshd first
            // starts, so the very first connection already requires it. User data holding the private
            // half is a secret end to end.
            const hostKey = new RunnerHostKey(`${rname}-host-key`, { alias }, { parent: this });
            const userData = pulumi.secret(
                pulumi.all([hostKey.secretPrivateKey(), hostKey.publicKey]).apply(([privateKey, publicKey]) =>
                    renderUserData({
                        pool,
                        nvidiaGpu,
                        sshUser: args.sshUser,
                        sshPublicKey: args.sshPublicKey,
                        idleStopMinutes: args.idleStopMinutes,
                        hostKey: { privateKey, publicKey },
                    }),
                ),
            );

            const eip = new ec2.Eip(`${rname}-eip`, { domain: "vpc", tags }, { parent: this });
            const instance = new ec2.Instance(
                rname,
                {
                    ami,
                    instanceType: config.instanceType,
                    vpcSecurityGroupIds: [this.securityGroup.id],
                    iamInstanceProfile: this.instanceProfile.name,
                    metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
                    rootBlockDevice: {
                        volumeType: "gp3",
                        volumeSize: config.volumeSizeGiB,
                        encrypted: true,
                        deleteOnTermination: true,
                        tags,
                    },
                    instanceInitiatedShutdownBehavior: "stop",
                    ...(config.spot
                        ? {
                              instanceMarketOptions: {
                                  marketType: "spot",
                                  spotOptions: { spotInstanceType: "persistent", instanceInterruptionBehavior: "stop" },
                              },
                          }
                        : {}),
                    userData,
                    // cloud-init runs user data on the first boot only: a changed setup needs a new instance.
                    userDataReplaceOnChange: true,
                    tags,
                },
                {
                    parent: this,
                    ignoreChanges: config.ami === undefined ? ["ami"] : [],
                    additionalSecretOutputs: ["userData", "userDataBase64"],
                },
            );
            const association = new ec2.EipAssociation(
                `${rname}-eip-assoc`,
                { allocationId: eip.allocationId, instanceId: instance.id },
                { parent: this },
            );

            const sshAccess: SshAccess = {
                hostKeyAlias: alias,
                ...sshAccessOf({ privateKeyPath: args.sshPrivateKeyPath, proxyCommand: ssm ? ssmProxyCommand(target) : undefined }),
            };
            const sshOpts = sshOptions(sshAccess);
            const host = ssm
                ? pulumi.output(sshDockerHost(args.sshUser, ssmHostAlias(target)))
                : this.addressHost(id, tags, eip, args.sshUser);

            const ticket = new WorkTicket(`${rname}-work`, { runner: id.name, builds }, { parent: this });
            // Started by replacement only, with the ticket; its options never change between updates,
            // and whatever state a refresh recorded ("stopped") is no reason to touch the runner.
            const power = new ec2transitgateway.InstanceState(
                `${rname}-power`,
                { instanceId: instance.id, state: "running" },
                { parent: this, replaceWith: [ticket], ignoreChanges: ["state"], dependsOn: [association] },
            );
            const ready = new ReadinessGate(
                `${rname}-ready`,
                {
                    runner: id.name,
                    host,
                    ssh: sshAccess,
                    access: args.access,
                    waitForCloudInit: true,
                    requireRuntime: nvidiaGpu ? "nvidia" : undefined,
                    timeoutSeconds: args.readyTimeoutSeconds ?? READY_TIMEOUT_SECONDS,
                    note: args.note,
                    instanceId: instance.id,
                    hostKey: hostKey.publicKey,
                    expectedHost: ssm ? undefined : eip.publicIp.apply((ip) => sshDockerHost(args.sshUser, ip)),
                    builds,
                },
                { parent: this, dependsOn: [power, association] },
            );
            const provider = new docker.Provider(
                `${rname}-docker`,
                // The daemon is checked by the readiness gate, when there is something to build; the
                // provider must not dial a runner that is stopped because there is nothing to do.
                { host, sshOpts, disableDockerDaemonCheck: true },
                { parent: this },
            );
            runners.push({ id, instance, eip, hostKey, host, sshOpts, sshAccess, provider, ready });
        }
        this.runners = runners;
        this.registerOutputs({
            access: args.access,
            securityGroupId: this.securityGroup.id,
            runners: runners.map((r) => ({ name: r.id.name, instanceId: r.instance.id, host: r.host })),
        });
    }

    /**
     * `ssh://<user>@<Elastic IP>`, the address read back by the runner's tags: once the Elastic
     * IP exists it is a plain value at preview, so the provider's host, and with it every image
     * of the runner, stays unchanged. Only the very first deployment of a runner, before its
     * Elastic IP exists, takes the address from the resource being created (unknown until it is).
     */
    private addressHost(id: RunnerId, tags: Record<string, string>, eip: ec2.Eip, user: string): pulumi.Output<string> {
        const lookedUp = ec2.getEipsOutput({ tags }, { parent: this }).apply((r) => {
            if (r.publicIps.length > 1) {
                throw new Error(
                    `more than one Elastic IP carries the tags of build runner ${id.name} (${r.publicIps.join(", ")}); remove the extra one`,
                );
            }
            return r.publicIps[0] as string | undefined;
        });
        return lookedUp.apply((ip) => (ip !== undefined ? pulumi.output(ip) : eip.publicIp)).apply((ip) => sshDockerHost(user, ip));
    }
}
