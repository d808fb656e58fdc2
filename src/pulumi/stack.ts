import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { writeContext, contextDir } from "../core/context";
import { planImages, PlannedImage, PublishAction } from "../core/plan";
import type { ContentDigest } from "../core/image";
import { BaseImage } from "./baseImage";
import { declareBuilders } from "./builders";
import type { PulumiStackConfig } from "./config";

/** Where staged contexts are written, relative to the project folder (Pulumi's working directory). */
export const CONTEXTS_DIR = path.join(".build", "contexts");

/** The `images` stack output: full reference -> what was published. */
export type ImagesOutput = Record<string, { contentDigest: ContentDigest; digest: string; action: PublishAction }>;

export interface DeclaredStack {
    readonly plan: readonly PlannedImage[];
    readonly images: Record<string, BaseImage>;
    readonly output: pulumi.Output<ImagesOutput>;
}

/**
 * Declares the whole stack for a validated config: stages every image's context and declares
 * one BaseImage per image of the matrix. `projectDir` is where the contexts are written.
 */
export function declareStack(
    stack: PulumiStackConfig,
    projectDir: string = process.cwd(),
    opts: pulumi.ComponentResourceOptions = {},
): DeclaredStack {
    const { config, catalog, registryPassword } = stack;
    const plan = planImages(config, catalog);
    const builders = declareBuilders(config, plan, opts);
    const images: Record<string, BaseImage> = {};
    for (const image of plan) {
        writeContext(path.join(projectDir, CONTEXTS_DIR), image.staged);
        images[image.reference] = new BaseImage(image.resourceName, {
            image,
            contextDir: contextDir(CONTEXTS_DIR, image.staged).split(path.sep).join("/"),
            registry: { server: config.registry.server, username: config.registry.username, password: registryPassword },
            push: config.push,
            network: builders.networkFor(image),
            provider: builders.providerFor(image),
            dependsOn: builders.dependenciesFor(image),
        }, opts);
    }
    const output = pulumi.all(
        Object.fromEntries(
            plan.map((p) => [p.reference, pulumi.all([images[p.reference].contentDigest, images[p.reference].digest]).apply(([contentDigest, digest]) => ({ contentDigest, digest, action: p.action }))]),
        ),
    ) as pulumi.Output<ImagesOutput>;
    return { plan, images, output };
}
