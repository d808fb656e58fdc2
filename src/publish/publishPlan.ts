import type { Catalog } from "../images/catalog";
import type { StackConfig } from "../config/stackConfig";
import { planImages, PlannedImage, PlatformPoolFn } from "./plannedImages";
import { classify, countActions, immutableTagConflicts, TagConflictError } from "./classify";
import { RegistryClient } from "../registry";
import type { Credentials } from "../registry/auth";

/** An image of the plan with what the registry said about it. */
export type PublishPlanImage = PlannedImage & {
    /** The manifest digest the tag has (`unchanged`, `conflict`) or gets by the copy (`retag`). */
    readonly digest?: string;
    /** For `conflict`: the published content digest (null: the image has no such label). */
    readonly publishedContentDigest?: string | null;
    /** For a multi-platform `conflict`: what differs, naming the platforms. */
    readonly conflictReason?: string;
    /** Multi-platform: platform -> manifest digest of its finished image already staged (not built again). */
    readonly stagedDigests?: Readonly<Record<string, string>>;
};

/** What publishing the stack will do, decided before anything is declared. */
export interface PublishPlan {
    readonly images: readonly PublishPlanImage[];
    /** Conflicting tags under immutableTags: publishing must stop with this error. */
    readonly conflicts?: TagConflictError;
    /** False when the registry was not consulted (push: false: build only). */
    readonly registryConsulted: boolean;
}

/** The plan without the registry: every image is built (push: false, or tests of declarations). */
export function offlinePlan(config: StackConfig, catalog: Catalog, platformPool?: PlatformPoolFn): PublishPlan {
    return { images: planImages(config, catalog, platformPool), registryConsulted: false };
}

/** The registry client for a stack's registry: anonymous without credentials. */
export function registryClientFor(config: StackConfig, password?: string, options: { timeoutMs?: number } = {}): RegistryClient {
    const credentials: Credentials | undefined =
        config.registry.username !== undefined && password !== undefined ? { username: config.registry.username, password } : undefined;
    return new RegistryClient({ server: config.registry.server, credentials, ...options });
}

/**
 * Plans every image of the stack and classifies it against the registry: the one source of
 * truth for `pulumi preview`/`up` and `npm run plan`. With `push: false` nothing is published,
 * so the registry is not consulted and every image is built.
 */
export async function planPublish(
    config: StackConfig,
    catalog: Catalog,
    client: RegistryClient | undefined,
    platformPool?: PlatformPoolFn,
): Promise<PublishPlan> {
    if (!config.push || client === undefined) return offlinePlan(config, catalog, platformPool);
    const images = (await classify(planImages(config, catalog, platformPool), client)) as PublishPlanImage[];
    const conflicts = config.immutableTags ? immutableTagConflicts(images) : undefined;
    return { images, conflicts, registryConsulted: true };
}

/** `32 images: 30 build, 2 retag, 0 unchanged, 0 conflict` */
export function summaryLine(images: readonly Pick<PlannedImage, "action">[]): string {
    const counts = countActions(images);
    const parts = (Object.keys(counts) as (keyof typeof counts)[]).map((a) => `${counts[a]} ${a}`);
    return `${images.length} image${images.length === 1 ? "" : "s"}: ${parts.join(", ")}`;
}
