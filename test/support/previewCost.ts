// What one preview of the prod matrix costs in registry requests, and how long its plan takes
// behind a slow registry: shared by the benchmark and the test that holds the target.
import type { Catalog } from "../../src/images/catalog";
import { LABELS } from "../../src/images/labels";
import type { StackConfig } from "../../src/config/stackConfig";
import { planImages } from "../../src/publish/plannedImages";
import { CLI_PASSWORD_FROM, planPublish, registryClientFor } from "../../src/publish/publishPlan";
import type { RegistryTagInputs } from "../../src/pulumi/registryTagProvider";
import { publishIndex, publishTag, RegistryClient } from "../../src/registry";
import type { RegistryIndexInputs } from "../../src/pulumi/registryIndexProvider";
import type * as pulumi from "@pulumi/pulumi";
import { DEFAULT_USER, startRegistry } from "./registry";
import { pushImage, putManifest } from "./registryImages";
import { startRegistryProxy } from "./registryProxy";
import { committedStack } from "./fixtures";
import { hosted } from "./dynamicProviders";

export function prodConfig(registry: StackConfig["registry"], versionTag?: string): { config: StackConfig; catalog: Catalog } {
    // prod's images come from a Truss checkout: here, the fixture checkout the tests use.
    const { config, catalog } = committedStack("prod");
    return { catalog, config: { ...config, registry, ...(versionTag ? { versionTag } : {}) } };
}

/**
 * Publishes every image of a config the way `pulumi up` does: each platform image pushed to its
 * (final) staging tag, then publishTag for a single image, or publishIndex (which writes through
 * publishTag) for a tag of several platforms.
 */
export async function publishAll(
    registryUrl: string,
    host: string,
    config: StackConfig,
    catalog: Catalog,
    credentials: { username: string; password: string } | undefined = DEFAULT_USER,
): Promise<void> {
    const client = new RegistryClient({ server: host, credentials });
    for (const image of planImages(config, catalog)) {
        const path = image.repository.slice(host.length + 1);
        const content = { key: LABELS.contentDigest, digest: image.contentDigest };
        const entries: { platform: string; digest: string }[] = [];
        for (const p of image.platforms) {
            const pushed = await pushImage({ url: registryUrl, credentials }, path, p.finalStagingTag, {
                labels: { [LABELS.contentDigest]: p.contentDigest },
                architecture: p.platform.split("/")[1],
                layerText: `${image.reference} ${p.platform}`,
            });
            entries.push({ platform: p.platform, digest: pushed.digest });
        }
        if (image.platforms.length > 1) {
            await publishIndex(client, { repository: image.repository, tag: image.tag, entries, content, overwrite: false });
            continue;
        }
        await publishTag(client, {
            repository: image.repository,
            tag: image.tag,
            source: image.platforms[0].finalStagingTag,
            content,
            platform: image.platforms[0].platform,
            overwrite: false,
        });
    }
}

export interface PreviewCost {
    /** Published tags (each an index when the stack has several platforms). */
    readonly images: number;
    /** Platform images behind those tags. */
    readonly platformImages: number;
    /** Requests the registry (through a counting proxy) and its token service received. */
    readonly planRequests: number;
    readonly diffRequests: number;
    readonly tokenRequests: number;
    readonly perImage: number;
}

/**
 * One preview of the prod matrix against a token-auth registry holding the current version
 * (published by our own code: prod's tags are indexes of two platform images): the plan the
 * program runs, then every RegistryIndex (or RegistryTag) diff the engine runs. Counts every request the registry and the token service see.
 */
export async function measurePreview(): Promise<PreviewCost> {
    const registry = await startRegistry({ auth: "token" });
    const proxy = await startRegistryProxy({ target: registry.url });
    try {
        const { config, catalog } = prodConfig({ server: proxy.host, namespace: "baseten", username: DEFAULT_USER.username });
        await publishAll(registry.url, proxy.host, config, catalog);
        const tokens = registry.tokenServer?.requests ?? [];
        proxy.requests.splice(0);
        tokens.splice(0);
        const plan = await planPublish(
            config,
            catalog,
            registryClientFor(config, DEFAULT_USER.password, { passwordFrom: CLI_PASSWORD_FROM }),
        );
        const unexpected = plan.images.filter((i) => i.action !== "unchanged");
        if (unexpected.length > 0)
            throw new Error(`expected every image unchanged, got ${unexpected.map((i) => `${i.reference}: ${i.action}`).join(", ")}`);
        const planRequests = proxy.requests.length;
        const planTokens = tokens.length;
        for (const image of plan.images) {
            const access = {
                server: config.registry.server,
                username: DEFAULT_USER.username,
                password: DEFAULT_USER.password,
                repository: image.repository,
                tag: image.tag,
                contentDigest: image.contentDigest,
                immutable: config.immutableTags,
                timeoutSeconds: config.registryTimeoutSeconds,
            };
            let diff: pulumi.dynamic.DiffResult | undefined;
            if (image.platforms.length > 1) {
                const news: RegistryIndexInputs = {
                    ...access,
                    platforms: image.platforms.map((p) => ({ platform: p.platform, contentDigest: p.contentDigest })),
                    entries: [],
                };
                diff = await hosted("RegistryIndex").diff(image.reference, { ...news, digest: image.digest as string }, news);
            } else {
                const news: RegistryTagInputs = { ...access, platform: image.staged.platform };
                diff = await hosted("RegistryTag").diff(
                    image.reference,
                    { ...news, reference: image.reference, digest: image.digest },
                    news,
                );
            }
            if (diff?.changes) throw new Error(`${image.reference}: the diff of an unchanged tag reports changes`);
        }
        const diffRequests = proxy.requests.length - planRequests + (tokens.length - planTokens);
        const total = proxy.requests.length + tokens.length;
        return {
            images: plan.images.length,
            platformImages: plan.images.reduce((n, i) => n + i.platforms.length, 0),
            planRequests: planRequests + planTokens,
            diffRequests,
            tokenRequests: tokens.length,
            perImage: total / plan.images.length,
        };
    } finally {
        await proxy.stop();
        await registry.stop();
    }
}

export interface SlowPlan {
    readonly images: number;
    readonly otherTags: number;
    readonly wallMs: number;
    readonly requests: number;
    readonly actions: string;
}

/**
 * The plan's wall time behind a proxy adding `latencyMs` to every request, for the prod matrix
 * bumped to a new version over a registry holding the previous one (every image a re-tag, the
 * most requests a plan makes), with `otherTags` more tags in each repository.
 */
export async function measureSlowPlan(opts: { latencyMs: number; otherTags: number; runs: number }): Promise<SlowPlan[]> {
    const registry = await startRegistry();
    try {
        const previous = prodConfig({ server: registry.host, namespace: "baseten" }, "v0.2.1");
        // Published as this program publishes prod: each tag an annotated index of its platform images.
        await publishAll(registry.url, registry.host, previous.config, previous.catalog, undefined);
        if (opts.otherTags > 0) {
            for (const repo of ["baseten/truss-server-base", "baseten/truss-training-base"]) {
                const filler = await pushImage({ url: registry.url }, repo, "filler", { labels: {} });
                const names = Array.from({ length: opts.otherTags }, (_, i) => `other-${i}`);
                for (let i = 0; i < names.length; i += 32) {
                    await Promise.all(
                        names.slice(i, i + 32).map((t) => putManifest({ url: registry.url }, repo, t, filler.bytes, filler.mediaType)),
                    );
                }
            }
        }
        const proxy = await startRegistryProxy({ target: registry.url, latencyMs: opts.latencyMs, tagPageSize: 100 });
        try {
            const { config, catalog } = prodConfig({ server: proxy.host, namespace: "baseten" });
            const out: SlowPlan[] = [];
            for (let i = 0; i < opts.runs; i++) {
                const client = registryClientFor(config, undefined, { passwordFrom: CLI_PASSWORD_FROM });
                const t = process.hrtime.bigint();
                const plan = await planPublish(config, catalog, client);
                out.push({
                    images: plan.images.length,
                    otherTags: opts.otherTags,
                    wallMs: Number(process.hrtime.bigint() - t) / 1e6,
                    requests: client.stats.requests,
                    actions: [...new Set(plan.images.map((p) => p.action))].join(", "),
                });
            }
            return out;
        } finally {
            await proxy.stop();
        }
    } finally {
        await registry.stop();
    }
}
