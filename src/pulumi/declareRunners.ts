import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { Ec2BuildersConfig, RUNNER_POOLS, RunnerPool } from "../config/runners";
import type { StackConfig } from "../config/stackConfig";
import type { PlannedImage } from "../publish/plannedImages";
import { assignRunners } from "../runners/assignment";
import { needsBuild } from "../publish/classify";
import type { RunnerId } from "../runners/pools";
import { reachabilityNote } from "../runners/readiness";
import { SMOKE_TIMEOUT_SECONDS, smokeChecksFor } from "../runners/smokeChecks";
import { poolHasNvidiaGpu } from "../runners/pools";
import type { BaseImage } from "./baseImage";
import { BuildRunner, Runner } from "./buildRunner";
import { SmokeTest } from "./smokeTest";
import { smokeImportsOf } from "../runners/smoke";
import type { SshAccess } from "../runners/ssh";

/**
 * Where each image is built, as the stack's resources see it: the Docker provider to build
 * with, what must be ready before the build starts, the network mode for RUN steps, and the
 * smoke test that follows the push.
 */
export interface Runners {
    /** The Docker provider that builds this image; undefined means the default provider (local daemon). */
    providerFor(image: PlannedImage): docker.Provider | undefined;
    /** Resources that must be ready before this image builds (e.g. a runner's readiness gate). */
    dependenciesFor(image: PlannedImage): pulumi.Resource[];
    /** Network mode for RUN instructions, or undefined for the daemon's default. */
    networkFor(image: PlannedImage): string | undefined;
    /** Declares the smoke test of a pushed image on the runner that built it; undefined where there is none. */
    declareSmokeTest(image: PlannedImage, built: BaseImage): SmokeTest | undefined;
    /** The Docker host (`ssh://user@host`) and ssh access (key, tunnel) of the runner that builds it; undefined for the local daemon. */
    endpointFor(image: PlannedImage): { host: pulumi.Output<string>; ssh?: SshAccess } | undefined;
}

/**
 * Declares the runners of a stack: nothing for the local daemon; for EC2, one BuildRunner per
 * pool, each image assigned to a runner of its pool. A runner is started and checked only when
 * one of its images is built in this update (`plan` actions).
 */
export function declareRunners(config: StackConfig, plan: readonly PlannedImage[], opts: pulumi.ComponentResourceOptions = {}): Runners {
    switch (config.builders.mode) {
        case "local": {
            const network = config.builders.network;
            return {
                providerFor: () => undefined,
                dependenciesFor: () => [],
                networkFor: () => network,
                declareSmokeTest: () => undefined,
                endpointFor: () => undefined,
            };
        }
        case "ec2":
            return declareEc2Runners(config, config.builders, plan, opts);
    }
}

function declareEc2Runners(
    config: StackConfig,
    builders: Ec2BuildersConfig,
    plan: readonly PlannedImage[],
    opts: pulumi.ComponentResourceOptions,
): Runners {
    const assigned = assignRunners(plan, builders);
    const runnerOf = new Map<string, RunnerId>(plan.map((image, i) => [image.reference, assigned[i]]));
    const builds = new Map<string, string[]>();
    plan.forEach((image, i) => {
        // A runner is needed only to build: a retag copies a manifest, an unchanged image needs nothing.
        if (!needsBuild(image)) return;
        const list = builds.get(assigned[i].name) ?? [];
        list.push(image.reference);
        builds.set(assigned[i].name, list);
    });

    const region = new pulumi.Config("aws").get("region");
    const pools: Partial<Record<RunnerPool, BuildRunner>> = {};
    for (const pool of RUNNER_POOLS) {
        const poolConfig = builders[pool];
        if (!poolConfig) continue;
        pools[pool] = new BuildRunner(
            `runner-${pool}`,
            {
                pool,
                config: poolConfig,
                access: builders.access,
                region,
                sshUser: builders.sshUser,
                sshPublicKey: builders.sshPublicKey,
                sshPrivateKeyPath: builders.sshPrivateKeyPath,
                allowedCidrs: builders.allowedCidrs ?? [],
                idleStopMinutes: builders.idleStopMinutes,
                builds: Array.from({ length: poolConfig.count }, (_, i) => [...(builds.get(`${pool}-${i}`) ?? [])].sort()),
                project: pulumi.getProject(),
                stack: pulumi.getStack(),
                note: reachabilityNote(builders),
            },
            opts,
        );
    }

    const runnerFor = (image: PlannedImage): Runner => {
        const id = runnerOf.get(image.reference);
        const runner = id && pools[id.pool]?.runners[id.index];
        if (!runner) throw new Error(`no build runner for ${image.reference}: it is not in the plan the runners were declared for`);
        return runner;
    };

    return {
        providerFor: (image) => runnerFor(image).provider,
        dependenciesFor: (image) => [runnerFor(image).ready],
        networkFor: () => undefined,
        endpointFor: (image) => {
            const runner = runnerFor(image);
            return { host: runner.host, ssh: runner.sshAccess };
        },
        declareSmokeTest: (image, built) => {
            if (!config.push) return undefined;
            const runner = runnerFor(image);
            const checks = smokeChecksFor(image.spec.accelerator, poolHasNvidiaGpu(runner.id.pool, builders));
            return new SmokeTest(
                `${image.resourceName}-smoke`,
                {
                    image: pulumi.interpolate`${image.repository}@${built.digest}`,
                    digest: built.digest,
                    spec: image.spec,
                    imports: smokeImportsOf(image.staged),
                    // The full test is the default; only the library-only variant is stored.
                    ...(checks === "gpu-libraries" ? { checks } : {}),
                    runner: runner.id.name,
                    host: runner.host,
                    ssh: runner.sshAccess,
                    hostKey: runner.hostKey.publicKey,
                    // Only the Session Manager tunnel needs the instance id; over ssh the address and key suffice.
                    ...(builders.access === "ssm" ? { instanceId: runner.instance.id } : {}),
                    timeoutSeconds: SMOKE_TIMEOUT_SECONDS,
                },
                { ...opts, dependsOn: [built.image] },
            );
        },
    };
}
