import type { Catalog } from "../images/catalog";
import type { StackConfig } from "../config/stackConfig";
import { planImages, PlannedImage, PlatformPoolFn } from "./plannedImages";
import { classify, countActions, immutableTagConflicts, TagConflictError } from "./classify";
import { CredentialsSource, RegistryClient } from "../registry";
import type { Credentials } from "../registry/auth";
import type { Classification } from "./classify";

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
    readonly publishedShape?: Classification["publishedShape"];
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
    return { images: planImages(config, catalog, undefined, platformPool), registryConsulted: false };
}

/** The environment variable the CLIs (`npm run plan`, `release-check`) read the registry password from. */
export const PASSWORD_ENV = "TRUSS_REGISTRY_PASSWORD";
/** How the CLIs get the password: named by their registry errors. */
export const CLI_PASSWORD_FROM = `the ${PASSWORD_ENV} environment variable`;
/** How the Pulumi program gets the password: named by its registry errors. */
export const PROGRAM_PASSWORD_FROM = "`pulumi config set --secret registryPassword`";

/**
 * The registry client for a stack's registry: anonymous without credentials. `passwordFrom`
 * says how the calling command gets the password (CLI_PASSWORD_FROM, PROGRAM_PASSWORD_FROM);
 * every authentication error names it.
 */
export function registryClientFor(
    config: StackConfig,
    password: string | undefined,
    access: { readonly passwordFrom: string },
    options: { fetch?: typeof fetch } = {},
): RegistryClient {
    const credentials: Credentials | undefined =
        config.registry.username !== undefined && password !== undefined ? { username: config.registry.username, password } : undefined;
    const credentialsSource: CredentialsSource = { configuredUser: config.registry.username, passwordFrom: access.passwordFrom };
    return new RegistryClient({
        server: config.registry.server,
        credentials,
        credentialsSource,
        timeoutSeconds: config.registryTimeoutSeconds,
        ...(config.registry.tokenRealmHosts ? { tokenRealmHosts: config.registry.tokenRealmHosts } : {}),
        ...options,
    });
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
    const images = (await classify(planImages(config, catalog, undefined, platformPool), client, {
        compression: config.compression ?? "gzip",
    })) as PublishPlanImage[];
    const conflicts = config.immutableTags ? immutableTagConflicts(images) : undefined;
    return { images, conflicts, registryConsulted: true };
}

/** `32 images: 30 build, 2 retag, 0 unchanged, 0 conflict` */
export function summaryLine(images: readonly Pick<PlannedImage, "action">[]): string {
    const counts = countActions(images);
    const parts = (Object.keys(counts) as (keyof typeof counts)[]).map((a) => `${counts[a]} ${a}`);
    return `${images.length} image${images.length === 1 ? "" : "s"}: ${parts.join(", ")}`;
}
