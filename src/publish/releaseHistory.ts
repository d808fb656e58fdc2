import type { Catalog } from "../images/catalog";
import type { StackConfig } from "../config/stackConfig";
import { stageImage } from "../images/context";
import { LABELS } from "../images/labels";
import { tag as tagOf, variant } from "../images/naming";
import { ParentLock, readParentLock } from "../images/parentLock";
import { combinedContentDigest } from "../images/platforms";
import type { ContentDigest } from "../images/spec";
import { trussCatalog } from "../images/trussCatalog";
import { TrussCheckout } from "../images/trussCheckout";
import { TagCommit, TrussHistory } from "../images/trussHistory";
import { UserError } from "../errors";
import { DEFAULT_PLATFORM, manifestAnnotation, RegistryClient } from "../registry";
import { retagCandidates } from "./classify";
import { definitionChanges, DefinitionChange } from "./definitionChanges";
import type { PublishPlanImage } from "./publishPlan";

/** How the content a tag holds was established. */
export type ContentSource = "label" | "history";

/** An image of the plan, its action decided by label or, for a tag without a content label, by the checkout's history. */
export type JudgedImage = PublishPlanImage & {
    readonly contentFrom: ContentSource;
    /** For `history`: the tag whose content the history gave, and the commit that set TRUSS_BASE_IMAGE_VERSION_TAG to it. */
    readonly history?: { readonly tag: string; readonly commit: string };
};

/** The plan as the release gate reads it, with what changed and since when. */
export interface HistoryJudgement {
    readonly images: readonly JudgedImage[];
    /** The commit that set the version tag to its value now (null: HEAD's history never did; undefined: history not read). */
    readonly versionTagCommit?: TagCommit | null;
    /** The tag before it in first-parent history, with the commit that set that one. */
    readonly previous?: TagCommit;
    /** What differs since the commit that set the version tag. */
    readonly changesSinceTag: readonly DefinitionChange[];
    /** What differs since the commit that set the previous tag. */
    readonly changesSincePrevious: readonly DefinitionChange[];
    /** Why the history was not read, when it was not needed. */
    readonly historyNote?: string;
}

/**
 * Whether a tag holds content without our content digest (annotation or label); undefined when
 * the tag is absent. `reference` is the tag, or the manifest digest the plan already read for it
 * (read again from the client's cache).
 */
async function unlabelled(client: RegistryClient, repository: string, reference: string, platform: string): Promise<boolean | undefined> {
    const manifest = await client.getManifest(repository, reference);
    if (!manifest) return undefined;
    if (manifestAnnotation(manifest, LABELS.contentDigest) !== undefined) return false;
    const config = await client.getImageConfig(repository, manifest, platform);
    return config?.labels[LABELS.contentDigest] === undefined;
}

const catalogs = new WeakMap<TrussCheckout, Catalog>();
/** The catalog of a checkout read from history, made once. */
function catalogAt(checkout: TrussCheckout, catalog: Catalog): Catalog {
    let c = catalogs.get(checkout);
    if (!c) catalogs.set(checkout, (c = trussCatalog(checkout, catalog)));
    return c;
}

/** The content digest the image had in the checkout as it was (same stack config, parent pins and platforms); undefined when that checkout did not define it. */
function digestAt(
    checkout: TrussCheckout,
    catalog: Catalog,
    config: StackConfig,
    lock: ParentLock,
    image: PublishPlanImage,
): ContentDigest | undefined {
    if (!checkout.jobTypes.has(image.spec.jobType) || !checkout.pythonVersions.includes(image.spec.python)) return undefined;
    const then = catalogAt(checkout, catalog);
    const platforms = image.platforms.map((p) => ({
        platform: p.platform,
        contentDigest: stageImage(then, image.spec, config.parents, lock, p.platform, config.compression ?? "gzip").contentDigest,
    }));
    return combinedContentDigest(platforms);
}

/** What the checkout's history says about the version tag, read once (and early: it needs no registry). */
export interface HistoryRead {
    readonly history: TrussHistory;
    /** The commit that set the version tag (undefined: HEAD's history never did). */
    readonly set?: TagCommit;
    readonly previous?: TagCommit;
    /** The checkout at those commits (undefined: no template there, or it could not be read: see `error`). */
    readonly atSet?: TrussCheckout;
    readonly atPrevious?: TrussCheckout;
    /** Why a commit's checkout could not be read; an error only where a tag needs it. */
    readonly error?: UserError;
}

/** A history read, or why there is none; never rejects with a UserError (an unhandled rejection while the registry is asked would end the process). */
export type HistoryReading = Promise<{ readonly read?: HistoryRead; readonly unavailable?: UserError; readonly failure?: unknown }>;

/**
 * Starts reading the checkout's history for the version tag: which commit set it and the one
 * before, and what the checkout defined at both. Start it before asking the registry; pass it
 * to judgeByHistory.
 */
export function readHistory(
    catalog: Catalog,
    versionTag: string,
    open: (dir: string) => Promise<TrussHistory> = TrussHistory.open,
): HistoryReading {
    const now = catalog.truss;
    if (!now) return Promise.resolve({});
    return (async () => {
        let history: TrussHistory;
        try {
            history = await open(now.dir);
        } catch (e) {
            if (e instanceof UserError) return { unavailable: e };
            throw e;
        }
        const found = await history.tagCommit(versionTag);
        let previous = found?.previous;
        if (!found) {
            // The working tree set the tag; its previous value is HEAD's.
            const headTag = await history.headTag();
            if (headTag !== undefined && headTag !== versionTag) previous = (await history.tagCommit(headTag))?.set;
        }
        const set = found?.set;
        try {
            const [atSet, atPrevious] = await Promise.all([
                set ? history.checkoutAt(set.commit) : undefined,
                previous ? history.checkoutAt(previous.commit) : undefined,
            ]);
            return { read: { history, set, previous, atSet, atPrevious } };
        } catch (e) {
            if (e instanceof UserError) return { read: { history, set, previous, error: e } };
            history.close();
            throw e;
        }
    })().catch((e: unknown) => (e instanceof UserError ? { unavailable: e } : { failure: e }));
}

/**
 * The plan's images judged as the release gate judges them. A tag with a content label is
 * judged by it (the plan's action). A tag without one (Docker Hub's, published by Truss's own
 * script) holds what the checkout defined at the commit that set TRUSS_BASE_IMAGE_VERSION_TAG to
 * its version (first-parent history): `unchanged` when that equals the definition now, else
 * `conflict`. An absent tag whose previous version's tag is unlabelled and held the same content
 * then is `retag` from it. Also says what changed since the version tag and since the previous
 * one. Throws HistoryUnavailableError when an unlabelled tag must be judged and the checkout
 * has no full history: nothing is guessed.
 */
export async function judgeByHistory(
    images: readonly PublishPlanImage[],
    config: StackConfig,
    catalog: Catalog,
    client: RegistryClient,
    reading: HistoryReading = readHistory(catalog, config.versionTag),
): Promise<HistoryJudgement> {
    const byLabel = images.map((i): JudgedImage => ({ ...i, contentFrom: "label" }));
    const none = { changesSinceTag: [], changesSincePrevious: [] };
    const now = catalog.truss;
    if (!now) {
        await reading;
        return { images: byLabel, ...none };
    }
    const platformOf = (i: PublishPlanImage) => i.staged.platform ?? DEFAULT_PLATFORM;
    const unlabelledConflicts = new Set<PublishPlanImage>();
    const [{ read, unavailable, failure }] = await Promise.all([
        reading,
        ...images
            .filter((i) => i.action === "conflict")
            .map(async (i) => {
                if (await unlabelled(client, i.repository, i.digest ?? i.tag, platformOf(i))) unlabelledConflicts.add(i);
            }),
    ]);

    if (failure !== undefined) throw failure;
    if (!read) {
        const e = unavailable as UserError;
        if (unlabelledConflicts.size > 0) throw e;
        // A new tag's previous version is known only from history: if the newest other tag of a
        // variant is unlabelled, whether it holds this content cannot be said without it.
        const tagLists = new Map<string, Promise<string[]>>();
        for (const i of images.filter((x) => x.action === "build")) {
            let list = tagLists.get(i.repository);
            if (!list)
                tagLists.set(i.repository, (list = client.listTags(i.repository, { keep: (t) => t.startsWith(`${variant(i.spec)}-`) })));
            const newest = retagCandidates(i, await list)[0];
            if (newest !== undefined && (await unlabelled(client, i.repository, newest, platformOf(i)))) throw e;
        }
        return { images: byLabel, ...none, historyNote: e.message };
    }

    const { history, set, previous, atSet, atPrevious } = read;
    const lock = readParentLock(catalog.imagesDir);
    try {
        const needs = (e: UserError | undefined): void => {
            if (e) throw e;
        };
        const judged = await Promise.all(
            byLabel.map(async (image, index): Promise<JudgedImage> => {
                if (unlabelledConflicts.has(images[index])) {
                    if (set) needs(read.error);
                    // HEAD's history never set this tag (or not in a layout this program reads): its content
                    // cannot be known, so it stays what the registry says, other content than this.
                    if (!set || !atSet) return image;
                    const then = digestAt(atSet, catalog, config, lock, image);
                    const history = { tag: set.tag, commit: set.short };
                    return then === image.contentDigest
                        ? { ...image, action: "unchanged", contentFrom: "history", history }
                        : { ...image, contentFrom: "history", history };
                }
                if (image.action === "build" && previous) {
                    const source = tagOf(image.spec, previous.tag);
                    if (await unlabelled(client, image.repository, source, platformOf(image))) {
                        needs(read.error);
                        if (atPrevious && digestAt(atPrevious, catalog, config, lock, image) === image.contentDigest) {
                            return {
                                ...image,
                                action: "retag",
                                source: `${image.repository}:${source}`,
                                contentFrom: "history",
                                history: { tag: previous.tag, commit: previous.short },
                            };
                        }
                    }
                }
                return image;
            }),
        );

        const specs = images.map((i) => i.spec);
        const nowFile = (rel: string) => catalog.files.get(rel);
        const changes = async (then: TrussCheckout | undefined, since: TagCommit | undefined): Promise<DefinitionChange[]> => {
            if (!then || !since) return [];
            const thenCatalog = catalogAt(then, catalog);
            return definitionChanges(
                then,
                now,
                specs,
                since,
                (rel) => history.commitsChanging(since.commit, rel),
                (rel) => thenCatalog.files.get(rel),
                nowFile,
            );
        };
        const [changesSinceTag, changesSincePrevious] = await Promise.all([changes(atSet, set), changes(atPrevious, previous)]);
        return {
            images: judged,
            versionTagCommit: set ?? null,
            previous,
            changesSinceTag,
            changesSincePrevious,
            ...(read.error ? { historyNote: read.error.message } : {}),
        };
    } finally {
        history.close();
    }
}
