import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { contextDir, writeContext } from "../images/context";
import type { ContentDigest } from "../images/spec";
import { layerLeaders, PublishAction } from "../publish/plannedImages";
import { needsBuild } from "../publish/classify";
import type { PublishPlan, PublishPlanImage } from "../publish/publishPlan";
import { BaseImage } from "./baseImage";
import { declareRunners } from "./declareRunners";
import type { PulumiStackConfig } from "./config";
import { RegistryTag, tokenRealmHostsOf } from "./registryTag";
import { checkPlatformBuilders, declareStagedPublish, platformBuilds, PlatformBuild, publishedFromStaging } from "./platformImages";
import type { RegistryIndex } from "./registryIndex";
import type { EstargzImage } from "./estargzImage";
import { UserError } from "../errors";
import { stagingReference } from "../images/naming";

/** Where staged contexts are written, relative to the project folder (Pulumi's working directory). */
export const CONTEXTS_DIR = path.join(".build", "contexts");

/** One entry of the `images` stack output. */
export interface PublishedImage {
    contentDigest: ContentDigest;
    /** The manifest digest the tag holds (the local image id when nothing is pushed). */
    digest: string;
    action: PublishAction;
    /** For `retag`: the reference the manifest was copied from. */
    source?: string;
}

/** The `images` stack output: full reference -> what was published. */
export type ImagesOutput = Record<string, PublishedImage>;

export interface DeclaredStack {
    readonly plan: readonly PublishPlanImage[];
    /** The images built in this update, by reference. */
    readonly builds: Record<string, BaseImage>;
    /** The registry tag of every published image, by reference (none when push is false). */
    readonly tags: Record<string, RegistryTag>;
    /** Tags holding an index of several platforms, by reference. */
    readonly indexes: Record<string, RegistryIndex>;
    /** eStargz conversions, by the reference of the staging tag they convert. */
    readonly conversions: Record<string, EstargzImage>;
    readonly output: pulumi.Output<ImagesOutput>;
}

/**
 * Declares the stack for a validated config and its publish plan:
 * - an image to build (`build`, or `conflict` without immutableTags) is a BaseImage (one
 *   docker.Image) on its builder, then smoke-tested;
 * - a build pushes only to its staging tag (`build-<content digest hex>`), never to a published
 *   tag;
 * - every published image has a RegistryTag under the same name whatever its action, the only
 *   writer of published tags: it checks the tag right before writing it from the staging tag
 *   (`build`) or the re-tag source (`retag`); for `unchanged` it has nothing to write. Its
 *   identity is the tag and the content digest, so an image that stays published shows no
 *   change from one update to the next, and a preview's diff asks the registry nothing.
 * `projectDir` is where the staged contexts are written.
 */
export function declareStack(
    stack: PulumiStackConfig,
    publishPlan: PublishPlan,
    projectDir: string = process.cwd(),
    opts: pulumi.ComponentResourceOptions = {},
): DeclaredStack {
    const { config, registryPassword } = stack;
    const plan = publishPlan.images;
    // Tags with several platforms (or eStargz) are built per platform into staging tags and
    // published by src/pulumi/platformImages.ts; the builders see each platform's build.
    const platformBuildsOf = new Map<string, PlatformBuild[]>(
        plan.filter((image) => publishedFromStaging(image, config)).map((image) => [image.reference, platformBuilds(image)]),
    );
    try {
        checkPlatformBuilders(config, [...platformBuildsOf.values()].flat());
    } catch (e) {
        if (e instanceof UserError) throw new pulumi.RunError(e.message);
        throw e;
    }
    const units = plan.flatMap((image) => platformBuildsOf.get(image.reference) ?? [image]);
    const runners = declareRunners(config, units, opts);
    const builds: Record<string, BaseImage> = {};
    const tags: Record<string, RegistryTag> = {};
    const indexes: Record<string, RegistryIndex> = {};
    const conversions: Record<string, EstargzImage> = {};
    const entries: Record<string, pulumi.Output<PublishedImage>> = {};
    const registry = { server: config.registry.server, username: config.registry.username, password: registryPassword };

    const leaders = layerLeaders(units.filter((image) => needsBuild(image)));
    for (const image of plan) {
        const perPlatform = platformBuildsOf.get(image.reference);
        if (perPlatform) {
            const published = declareStagedPublish(image, perPlatform, {
                config,
                builders: runners,
                registry,
                projectDir,
                contextsDir: CONTEXTS_DIR,
                opts,
                dependenciesOf: (b) => leaderOf(b),
            });
            Object.assign(builds, published.builds);
            Object.assign(conversions, published.conversions);
            if (published.tag) indexes[image.reference] = published.tag;
            if (published.single) tags[image.reference] = published.single;
            entries[image.reference] = published.digest.apply((d) => ({
                contentDigest: image.contentDigest,
                digest: d,
                action: image.action,
                ...(image.source ? { source: image.source } : {}),
            }));
            continue;
        }
        let digest: pulumi.Output<string>;
        let dependsOn: pulumi.Resource[] = [];
        if (needsBuild(image)) {
            writeContext(path.join(projectDir, CONTEXTS_DIR), image.staged);
            const built = new BaseImage(
                image.resourceName,
                {
                    image,
                    contextDir: contextDir(CONTEXTS_DIR, image.staged).split(path.sep).join("/"),
                    registry,
                    push: config.push,
                    network: runners.networkFor(image),
                    provider: runners.providerFor(image),
                    dependsOn: [...runners.dependenciesFor(image), ...leaderOf(image)],
                },
                opts,
            );
            const smoke = runners.declareSmokeTest(image, built);
            builds[image.reference] = built;
            digest = built.digest;
            // The published tag is written only after the image passed its smoke test.
            dependsOn = smoke ? [built, smoke] : [built];
        } else {
            digest = pulumi.output(image.digest as string);
        }
        if (config.push) {
            const built = builds[image.reference];
            const source = built
                ? { source: stagingReference(image.repository, image.contentDigest), sourceDigest: digest }
                : image.action === "retag"
                  ? { source: image.source, sourceDigest: image.digest }
                  : {};
            const tag = new RegistryTag(
                `${image.resourceName}-tag`,
                {
                    ...registry,
                    repository: image.repository,
                    tag: image.tag,
                    contentDigest: image.contentDigest,
                    ...source,
                    platform: image.staged.platform,
                    immutable: config.immutableTags,
                    timeoutSeconds: config.registryTimeoutSeconds,
                    ...tokenRealmHostsOf(config),
                },
                { ...opts, dependsOn, retainOnDelete: true },
            );
            tags[image.reference] = tag;
            // An unchanged tag's digest is known from the plan (and at preview); a written one from the write.
            if (image.action !== "unchanged") digest = tag.digest;
        }
        entries[image.reference] = digest.apply((d) => ({
            contentDigest: image.contentDigest,
            digest: d,
            action: image.action,
            ...(image.source ? { source: image.source } : {}),
        }));
    }
    function leaderOf(image: Pick<PublishPlanImage, "reference">): BaseImage[] {
        const leader = leaders.get(image.reference);
        return leader && builds[leader] ? [builds[leader]] : [];
    }
    const output = pulumi.all(entries) as pulumi.Output<ImagesOutput>;
    return { plan, builds, tags, indexes, conversions, output };
}
