/**
 * Parent pins: which parent references the images use, which of them the lock pins, and what
 * each pinned tag points to now. `npm run parents` is the only caller that asks a registry;
 * planning reads the lock alone, so a preview never changes because upstream moved.
 */
import type { Catalog } from "../images/catalog";
import { ACCELERATORS } from "../images/dimensions";
import type { StackConfig } from "../config/stackConfig";
import { stageImage } from "../images/context";
import { fromLines } from "../images/dockerfile";
import { EMPTY_LOCK, lockAgeDays, LOCK_FILE, LOCK_MAX_AGE_DAYS, namesDigest, ParentLock } from "../images/parentLock";
import type { ImageSpec } from "../images/spec";
import { expandMatrix } from "../images/matrix";
import { imageReference } from "../images/naming";
import { UserError } from "../errors";
import { formatRepository, parseRepository, RegistryClient, splitImageRef } from "../registry";

/** The command that pins parents, for messages. */
export function pinCommand(stack = "<name>"): string {
    return `npm run parents -- --stack ${stack} --update`;
}

/** One parent reference and the images that build FROM it. */
export interface ParentUse {
    /** As the lock keys it: after the stack's `parents` overrides, without a digest. */
    readonly reference: string;
    /** The stack's images (full references) that build FROM it, in matrix order. */
    readonly images: readonly string[];
    /** How many images of the whole catalog build FROM it (any stack could ask for them). */
    readonly catalogImages: number;
}

function everySpec(catalog: Catalog): ImageSpec[] {
    const out: ImageSpec[] = [];
    for (const jobType of catalog.jobTypes.keys()) {
        for (const python of catalog.pythonVersions.keys()) {
            for (const accelerator of ACCELERATORS) {
                for (const liveReload of [false, true]) out.push({ jobType, python, accelerator, liveReload });
            }
        }
    }
    return out;
}

/** The parent references of an image: its staged Dockerfile's FROM lines, before any pin. */
export function parentsOf(catalog: Catalog, spec: ImageSpec, overrides: StackConfig["parents"]): string[] {
    const staged = stageImage(catalog, spec, overrides, EMPTY_LOCK);
    const dockerfile = staged.files.find((f) => f.path === "Dockerfile");
    if (!dockerfile) return [];
    return [...new Set(fromLines(dockerfile.content.toString("utf8"), staged.buildArgs).map((f) => f.reference))];
}

/**
 * Every parent reference any image of the catalog can build FROM, with the stack's overrides
 * applied, sorted; references that already name a digest (an override pinning one) are left out.
 */
export function parentUses(config: StackConfig, catalog: Catalog): ParentUse[] {
    const uses = new Map<string, { images: string[]; catalogImages: number }>();
    for (const spec of everySpec(catalog)) {
        for (const ref of parentsOf(catalog, spec, config.parents)) {
            if (namesDigest(ref)) continue;
            const use = uses.get(ref) ?? { images: [], catalogImages: 0 };
            use.catalogImages++;
            uses.set(ref, use);
        }
    }
    for (const spec of expandMatrix(config.matrix)) {
        for (const ref of parentsOf(catalog, spec, config.parents)) {
            uses.get(ref)?.images.push(imageReference(config.registry, spec, config.versionTag));
        }
    }
    return [...uses.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([reference, u]) => ({ reference, ...u }));
}

/** What a parent's tag points to now, against its pin. */
export type ParentState =
    /** The tag still points to the pinned digest. */
    | "unchanged"
    /** The tag points to another digest. */
    | "moved"
    /** The lock has no pin for it. */
    | "unpinned"
    /** The tag is gone upstream; the pinned digest is still served and still builds. */
    | "tag-gone"
    /** The tag is gone upstream and so is the pinned digest (or, unpinned, the tag alone): nothing builds. */
    | "gone"
    /** The registry could not be asked. */
    | "error";

export interface ParentStatus extends ParentUse {
    readonly state: ParentState;
    /** The digest of the lock. */
    readonly pinned?: string;
    /** The digest the tag points to now (when it was resolved). */
    readonly current?: string;
    /** For `error`: what went wrong. */
    readonly error?: string;
}

/** The registry client for a parent's server: anonymous (token auth when the registry asks for it). */
export type ClientFor = (server: string) => RegistryClient;

export function anonymousClients(options: { timeoutMs?: number } = {}): ClientFor {
    const clients = new Map<string, RegistryClient>();
    return (server) => {
        let c = clients.get(server);
        if (!c) {
            c = new RegistryClient({ server, ...options });
            clients.set(server, c);
        }
        return c;
    };
}

/** `python:3.11` -> `docker.io/library/python` and `3.11` (a reference without a tag means `latest`). */
export function splitParent(reference: string): { server: string; repository: string; tag: string } {
    const lastSlash = reference.lastIndexOf("/");
    const hasTag = reference.lastIndexOf(":") > lastSlash;
    const { repository, reference: tag } = splitImageRef(hasTag ? reference : `${reference}:latest`);
    const name = parseRepository(repository);
    return { server: name.server, repository: formatRepository(name), tag };
}

/**
 * Asks each parent's registry what its tag points to (one manifest request per parent, plus
 * one for the pinned digest when the tag is gone). With `includeUnpinned`, parents without a
 * pin are resolved too (for `--update`); otherwise they are reported as `unpinned` unasked.
 *
 * The digest is the sha256 of the manifest bytes received, never the registry's
 * Docker-Content-Digest header alone: a header that disagrees with the bytes is an error for
 * that parent (the client refuses it), so a lock line is only ever a digest we computed.
 */
export async function resolveParents(
    uses: readonly ParentUse[],
    lock: ParentLock,
    clientFor: ClientFor,
    opts: { includeUnpinned: boolean },
): Promise<ParentStatus[]> {
    return Promise.all(
        uses.map(async (use): Promise<ParentStatus> => {
            const pinned = lock.pins.get(use.reference);
            if (pinned === undefined && !opts.includeUnpinned) return { ...use, state: "unpinned" };
            try {
                const { server, repository, tag } = splitParent(use.reference);
                const client = clientFor(server);
                const current = await client.getManifest(repository, tag);
                if (current === undefined) {
                    if (pinned === undefined) return { ...use, state: "gone" };
                    const still = await client.getManifest(repository, pinned);
                    return { ...use, pinned, state: still ? "tag-gone" : "gone" };
                }
                if (pinned === undefined) return { ...use, current: current.digest, state: "unpinned" };
                return { ...use, pinned, current: current.digest, state: current.digest === pinned ? "unchanged" : "moved" };
            } catch (e) {
                return { ...use, ...(pinned ? { pinned } : {}), state: "error", error: (e as Error).message };
            }
        }),
    );
}

/**
 * The exit code of `--check`: 1 if a registry could not be asked or a parent can no longer be
 * built FROM; 4 if a pinned tag moved or is gone while its pin still builds; else 0.
 */
export function checkExitCode(statuses: readonly ParentStatus[]): 0 | 1 | 4 {
    if (statuses.some((s) => s.state === "error" || s.state === "gone")) return 1;
    if (statuses.some((s) => s.state === "moved" || s.state === "tag-gone")) return 4;
    return 0;
}

/** The parents `--update` cannot pin: a registry that could not be asked, or a tag (and pin) gone upstream. */
export function unresolvedParents(statuses: readonly ParentStatus[]): ParentStatus[] {
    return statuses.filter((s) => s.state === "error" || s.state === "gone");
}

/**
 * The lock after `--update`: moved and unpinned parents get the digest their tag points to now;
 * every other line (unchanged, tag-gone, parents no image uses) stays as it was. `updated`
 * becomes today when any line changed. The caller writes it only when no parent is unresolved.
 */
export function updatedLock(
    lock: ParentLock,
    statuses: readonly ParentStatus[],
    today: string,
): { lock: ParentLock; changed: ParentStatus[] } {
    const pins = new Map(lock.pins);
    const changed: ParentStatus[] = [];
    for (const s of statuses) {
        if (!pins.has(s.reference)) pins.set(s.reference, undefined);
        if ((s.state === "moved" || s.state === "unpinned") && s.current !== undefined && s.current !== s.pinned) {
            pins.set(s.reference, s.current);
            changed.push(s);
        }
    }
    return { lock: { updated: changed.length > 0 ? today : lock.updated, pins }, changed };
}

/** Parent reference -> the stack's images that build FROM it unpinned. */
export function unpinnedByParent(
    images: readonly { reference: string; staged: { unpinnedParents: readonly string[] } }[],
): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const image of images) {
        for (const ref of image.staged.unpinnedParents) out.set(ref, [...(out.get(ref) ?? []), image.reference]);
    }
    return new Map([...out.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** `requirePinnedParents: true` and an unpinned parent: the one error, before anything is declared. */
export function unpinnedParentsError(
    images: readonly { reference: string; staged: { unpinnedParents: readonly string[] } }[],
): UserError | undefined {
    const unpinned = unpinnedByParent(images);
    if (unpinned.size === 0) return undefined;
    const lines = [...unpinned].map(
        ([ref, users]) => `  - ${ref} (parent of ${users.length} image${users.length === 1 ? "" : "s"}, e.g. ${users[0]})`,
    );
    return new UserError(
        `requirePinnedParents is true, but ${unpinned.size} parent image${unpinned.size === 1 ? " has" : "s have"} no pin in images/${LOCK_FILE}; ` +
            `nothing was declared or published:\n${lines.join("\n")}\n` +
            `Pin them with \`${pinCommand()}\` where their registry is reachable and commit images/${LOCK_FILE}, ` +
            `or set requirePinnedParents to false.`,
    );
}

/** The plan's warnings about parents: each unpinned parent, and a lock older than 30 days. */
export function parentWarnings(
    images: readonly { reference: string; staged: { unpinnedParents: readonly string[] } }[],
    lock: ParentLock,
    stack: string,
    now: Date,
): string[] {
    const out: string[] = [];
    for (const [ref, users] of unpinnedByParent(images)) {
        out.push(
            `warning: parent ${ref} is not pinned in images/${LOCK_FILE}: ${users.length} image${users.length === 1 ? " builds" : "s build"} ` +
                `from its tag, whatever it points to at build time; pin it with \`${pinCommand(stack)}\``,
        );
    }
    const age = lockAgeDays(lock, now);
    if (age !== undefined && age > LOCK_MAX_AGE_DAYS) {
        out.push(
            `warning: images/${LOCK_FILE} was last updated ${lock.updated} (${age} days ago, more than ${LOCK_MAX_AGE_DAYS}); ` +
                `see what moved upstream with \`npm run parents -- --stack ${stack} --check\``,
        );
    }
    return out;
}
