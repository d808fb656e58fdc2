import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { contextDir, writeContext } from "../images/context";
import { proofStagingTag } from "../images/naming";
import { architectureOf } from "../images/platforms";
import type { Pool } from "../runners/pools";
import type { StackConfig } from "../config/stackConfig";
import { UserError } from "../errors";
import { needsBuild } from "../publish/classify";
import type { PlannedImage, PlatformImage } from "../publish/plannedImages";
import type { PublishPlanImage } from "../publish/publishPlan";
import { emulationProblem } from "../runners/emulation";
import { BaseImage } from "./baseImage";
import { EstargzImage } from "./estargzImage";
import { RegistryIndex } from "./registryIndex";
import { RegistryTag, tokenRealmHostsOf } from "./registryTag";
import { SmokedStagingTag } from "./smokedStagingTag";
import type { Runners } from "./declareRunners";

/**
 * Tags published from staging tags: more than one platform (the tag holds an OCI index), or
 * eStargz layers (the tag holds the converted image). Every other tag keeps the single-image
 * path of src/pulumi/stack.ts.
 */
export function publishedFromStaging(image: Pick<PlannedImage, "platforms">, config: StackConfig): boolean {
    return image.platforms.length > 1 || (config.compression ?? "gzip") === "estargz";
}

/** One platform's build of a tag, as the builders see an image: its own reference (the staging tag), pool and name. */
export interface PlatformBuild extends PlannedImage {
    readonly of: PublishPlanImage;
    readonly platformImage: PlatformImage;
}

/**
 * The per-platform builds of a staged tag. A platform whose finished image is already staged
 * and proven (a partial failure before; see proofStagingTag) is `unchanged`: nothing is built or
 * tested for it and its runner is not started for it. All others build (and are smoke-tested)
 * when the tag does.
 */
export function platformBuilds(image: PublishPlanImage): PlatformBuild[] {
    return image.platforms.map((p) => ({
        ...image,
        reference: `${image.repository}:${p.stagingTag}`,
        resourceName: `${image.resourceName}-${architectureOf(p.platform)}`,
        staged: p.staged,
        contentDigest: p.contentDigest,
        pool: p.pool as Pool,
        platforms: [p],
        action: needsBuild(image) && image.stagedDigests?.[p.platform] === undefined ? "build" : "unchanged",
        of: image,
        platformImage: p,
    }));
}

/** One clear error when a platform's pool does not exist, or the local daemon cannot build a platform. */
export function checkPlatformBuilders(
    config: StackConfig,
    builds: readonly PlatformBuild[],
    localBinfmt: () => readonly string[] = readBinfmt,
): void {
    const problems = new Set<string>();
    for (const b of builds) {
        if (b.action !== "build") continue;
        if (config.builders.mode === "local") {
            const dockerHost = process.env.DOCKER_HOST;
            // A remote daemon's architecture is not this machine's: its build error will say.
            if (dockerHost && !dockerHost.startsWith("unix://")) continue;
            const problem = emulationProblem(b.platformImage.platform, process.arch, localBinfmt());
            if (problem) problems.add(problem);
        } else if (!(config.builders as unknown as Record<string, unknown>)[b.pool]) {
            problems.add(
                `matrix.platforms asks for ${b.platformImage.platform}, whose images build natively on the builders.${b.pool} pool, ` +
                    `which this stack does not have: add builders.${b.pool}, or remove ${b.platformImage.platform} from matrix.platforms.`,
            );
        }
    }
    if (problems.size > 0) throw new UserError([...problems].join("\n"));
}

function readBinfmt(): string[] {
    try {
        return fs.readdirSync("/proc/sys/fs/binfmt_misc");
    } catch {
        return [];
    }
}

/** Whether the registry is reached over plain HTTP (loopback), as the registry client decides. */
function isLoopback(server: string): boolean {
    return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(server);
}

export interface StagedPublishContext {
    readonly config: StackConfig;
    readonly builders: Runners;
    readonly registry: { readonly server: string; readonly username?: string; readonly password?: pulumi.Output<string> };
    readonly projectDir: string;
    readonly contextsDir: string;
    readonly opts: pulumi.ComponentResourceOptions;
    /** Resources a platform build waits for (layer leaders), by the build's reference. */
    readonly dependenciesOf: (build: PlatformBuild) => pulumi.Resource[];
}

export interface StagedPublish {
    /** The tag's digest: the index (or converted image) once published; the build's when not pushed. */
    readonly digest: pulumi.Output<string>;
    readonly builds: Record<string, BaseImage>;
    readonly conversions: Record<string, EstargzImage>;
    readonly tag?: RegistryIndex;
    /** One platform with eStargz: the converted image's tag. */
    readonly single?: RegistryTag;
}

/**
 * Declares one staged tag: each platform built on a daemon of its architecture and pushed to its
 * staging tag, smoke-tested, then proven passed by its proof staging tag (proofStagingTag, the
 * only proof the next plan accepts): with eStargz, its conversion, written to
 * `build-<hex>-estargz` only after the smoke test; with gzip, a SmokedStagingTag marking it
 * `build-<hex>-smoked`. Then the one resource that writes the published tag, after every
 * platform's proof: a RegistryIndex (the index of the platforms, or a copy of the older tag
 * holding the same index), or for one platform a RegistryTag (the converted image). A failed
 * platform leaves the others in their staging tags and the published tag unwritten; the next plan
 * finds them staged.
 */
export function declareStagedPublish(image: PublishPlanImage, builds: readonly PlatformBuild[], ctx: StagedPublishContext): StagedPublish {
    const { config, builders, registry, opts } = ctx;
    const estargz = (config.compression ?? "gzip") === "estargz";
    const built: Record<string, BaseImage> = {};
    const conversions: Record<string, EstargzImage> = {};
    const waits: pulumi.Resource[] = [];
    const entries: { platform: string; digest: pulumi.Output<string> }[] = [];

    for (const b of builds) {
        const platform = b.platformImage.platform;
        const staged = image.stagedDigests?.[platform];
        if (b.action !== "build") {
            if (staged) entries.push({ platform, digest: pulumi.output(staged) });
            continue;
        }
        writeContext(path.join(ctx.projectDir, ctx.contextsDir), b.staged);
        const baseImage = new BaseImage(
            b.resourceName,
            {
                image: b,
                contextDir: contextDir(ctx.contextsDir, b.staged).split(path.sep).join("/"),
                registry,
                push: config.push,
                network: builders.networkFor(b),
                provider: builders.providerFor(b),
                dependsOn: [...builders.dependenciesFor(b), ...ctx.dependenciesOf(b)],
            },
            opts,
        );
        built[b.reference] = baseImage;
        const smoke = builders.declareSmokeTest(b, baseImage);
        let digest = baseImage.digest;
        let last: pulumi.Resource[] = [baseImage, ...(smoke ? [smoke] : [])];
        if (estargz && config.push) {
            const endpoint = builders.endpointFor(b);
            const source = b.reference;
            const target = `${image.repository}:${b.platformImage.finalStagingTag}`;
            const converted = new EstargzImage(
                `${b.resourceName}-estargz`,
                {
                    source,
                    sourceDigest: baseImage.digest,
                    target,
                    platform,
                    ...(endpoint ? { endpoint: { host: endpoint.host, ssh: endpoint.ssh } } : {}),
                    plainHttp: isLoopback(config.registry.server),
                    // containerd's socket is root's on the runners; locally ctr runs as the operator.
                    sudo: endpoint !== undefined,
                    username: registry.username,
                    password: registry.password,
                },
                { ...opts, dependsOn: last },
            );
            conversions[b.reference] = converted;
            digest = converted.digest;
            last = [converted];
        }
        // The tag that proves this image passed (proofStagingTag). With eStargz it is the converted
        // image's tag, just written by EstargzImage after the smoke test: nothing more to write. With
        // gzip the build pushed its staging tag before the test, so a SmokedStagingTag writes the
        // proof, once everything above passed.
        const proof = proofStagingTag(b.platformImage.contentDigest, config.compression ?? "gzip");
        if (config.push && proof !== b.platformImage.finalStagingTag) {
            const smoked = new SmokedStagingTag(
                `${b.resourceName}-smoked`,
                {
                    username: registry.username,
                    password: registry.password,
                    repository: image.repository,
                    sourceDigest: digest,
                    tag: proof,
                    timeoutSeconds: config.registryTimeoutSeconds,
                    ...tokenRealmHostsOf(config),
                },
                { ...opts, dependsOn: last, retainOnDelete: true },
            );
            digest = smoked.digest;
            last = [smoked];
        }
        waits.push(...last);
        entries.push({ platform, digest });
    }

    if (!config.push) {
        const first = Object.values(built)[0];
        return { digest: first ? first.digest : pulumi.output(image.digest ?? ""), builds: built, conversions };
    }
    const retag = image.action === "retag";
    const rebuild = needsBuild(image);
    const access = {
        server: registry.server,
        username: registry.username,
        password: registry.password,
        repository: image.repository,
        tag: image.tag,
        contentDigest: image.contentDigest,
        immutable: config.immutableTags,
        timeoutSeconds: config.registryTimeoutSeconds,
        ...tokenRealmHostsOf(config),
    };
    const tagOpts = { ...opts, dependsOn: waits, retainOnDelete: true };
    if (image.platforms.length === 1) {
        // One platform, eStargz: a single image, so RegistryTag (the writer of single-image tags) copies the converted image.
        const only = image.platforms[0];
        const source = rebuild
            ? { source: `${image.repository}:${only.finalStagingTag}`, sourceDigest: entries[0]?.digest }
            : retag
              ? { source: image.source, sourceDigest: image.digest }
              : {};
        const single = new RegistryTag(`${image.resourceName}-tag`, { ...access, ...source, platform: only.platform }, tagOpts);
        return {
            digest: image.action === "unchanged" ? pulumi.output(image.digest ?? "") : single.digest,
            builds: built,
            conversions,
            single,
        };
    }
    const tag = new RegistryIndex(
        `${image.resourceName}-index`,
        {
            ...access,
            platforms: image.platforms.map((p) => ({ platform: p.platform, contentDigest: p.contentDigest })),
            entries: rebuild ? entries : [],
            ...(retag ? { source: image.source, sourceDigest: image.digest } : {}),
        },
        tagOpts,
    );
    // An unchanged tag's digest is known from the plan (and at preview); a written one from the write.
    return {
        digest: image.action === "unchanged" ? pulumi.output(image.digest ?? "") : tag.digest,
        builds: built,
        conversions,
        tag,
    };
}
