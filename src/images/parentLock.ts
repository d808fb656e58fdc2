/**
 * images/parents.lock: every parent image reference pinned to the digest of its multi-arch
 * index. Builds go FROM `<reference>@<digest>` and the pin is part of the content digest, so a
 * parent re-pushed upstream changes nothing here until the lock says so, and then exactly the
 * images of that parent rebuild. The file is YAML, one line per parent, sorted, written whole by
 * `npm run parents -- --update` so that a change shows as the lines that changed.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { CatalogError } from "../errors";

export const LOCK_FILE = "parents.lock";
/** What a line says for a parent that has no pin yet. */
export const UNPINNED = "unpinned";
/** `npm run plan` warns when the lock was last updated longer ago than this. */
export const LOCK_MAX_AGE_DAYS = 30;

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const REFERENCE = /^[a-zA-Z0-9][\w.:/-]*$/;

export interface ParentLock {
    /** The day of the last `--update` (`YYYY-MM-DD`, UTC); undefined if never updated. */
    readonly updated?: string;
    /** Parent reference (`python:3.11`) -> digest of its index, or undefined where it has no pin. */
    readonly pins: ReadonlyMap<string, string | undefined>;
}

export const EMPTY_LOCK: ParentLock = { pins: new Map() };

/** The digest a parent is pinned to, if any. */
export function pinOf(lock: ParentLock, reference: string): string | undefined {
    return lock.pins.get(reference);
}

/** `python:3.11@sha256:...`: what a pinned image builds FROM. */
export function pinnedReference(reference: string, digest: string): string {
    return `${reference}@${digest}`;
}

/** Whether a parent reference already names a digest (given so by the stack's `parents` overrides). */
export function namesDigest(reference: string): boolean {
    return /@sha256:[a-f0-9]{64}$/.test(reference);
}

export function lockPath(imagesDir: string): string {
    return path.join(imagesDir, LOCK_FILE);
}

/** Reads `<imagesDir>/parents.lock`; a folder without one has no pins. */
export function readParentLock(imagesDir: string): ParentLock {
    const file = lockPath(imagesDir);
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return EMPTY_LOCK;
        throw new CatalogError(`Cannot read the parent lock ${file}: ${(e as Error).message}`);
    }
    return parseParentLock(text, file);
}

export function writeParentLock(imagesDir: string, lock: ParentLock): void {
    const file = lockPath(imagesDir);
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, formatParentLock(lock));
    fs.renameSync(tmp, file);
}

/** Parses the lock's text; one CatalogError lists every bad line. */
export function parseParentLock(text: string, source: string): ParentLock {
    let data: unknown;
    try {
        data = YAML.parse(text);
    } catch (e) {
        throw new CatalogError(`${source} is not valid YAML: ${(e as Error).message}`);
    }
    if (data === null || data === undefined) return EMPTY_LOCK;
    const problems: string[] = [];
    if (typeof data !== "object" || Array.isArray(data)) {
        throw new CatalogError(`${source} must be a mapping with \`updated\` and \`parents\`; restore it with \`git checkout ${source}\``);
    }
    const doc = data as Record<string, unknown>;
    for (const key of Object.keys(doc)) {
        if (key !== "updated" && key !== "parents") problems.push(`unknown key ${JSON.stringify(key)}; allowed: updated, parents`);
    }
    const updatedRaw = doc.updated;
    let updated: string | undefined;
    if (updatedRaw !== undefined && updatedRaw !== null && updatedRaw !== "never") {
        if (typeof updatedRaw === "string" && DATE.test(updatedRaw) && !Number.isNaN(Date.parse(updatedRaw))) updated = updatedRaw;
        else problems.push(`updated: ${JSON.stringify(updatedRaw)} is not a date written YYYY-MM-DD (or never)`);
    }
    const pins = new Map<string, string | undefined>();
    const parents = doc.parents ?? {};
    if (typeof parents !== "object" || parents === null || Array.isArray(parents)) {
        problems.push("parents: expected a mapping of parent reference -> sha256 digest or unpinned");
    } else {
        for (const [ref, value] of Object.entries(parents as Record<string, unknown>)) {
            if (!REFERENCE.test(ref) || namesDigest(ref) || ref.includes("@")) {
                problems.push(`parents: ${JSON.stringify(ref)} is not an image reference without a digest (such as python:3.11)`);
            } else if (value === UNPINNED || value === null) pins.set(ref, undefined);
            else if (typeof value === "string" && DIGEST.test(value)) pins.set(ref, value);
            else problems.push(`parents: ${JSON.stringify(ref)} has ${JSON.stringify(value)}; allowed: sha256:<64 hex digits> or ${UNPINNED}`);
        }
    }
    if (problems.length > 0) {
        throw new CatalogError(
            `${source} is invalid:\n${problems.map((p) => `  - ${p}`).join("\n")}\n` +
                `Rewrite it with \`npm run parents -- --stack <name> --update\`, or restore it with \`git checkout ${source}\`.`,
        );
    }
    return { updated, pins };
}

const HEADER = [
    "# Parent images pinned by digest (YAML). Each line under `parents` is a parent reference a",
    "# staged Dockerfile builds FROM (after the stack's `parents` overrides) and the digest of that",
    "# parent's multi-arch index, so one pin serves every platform; `unpinned` builds from the tag.",
    "# Images build FROM <reference>@<digest> and the pin is part of their content digest: a line",
    "# that changes rebuilds exactly the images of that parent, at the next `pulumi up`.",
    "# Written by `npm run parents -- --stack <name> --update`, which reads every digest from its",
    "# registry; `npm run plan` and `pulumi preview` only read this file. Never write a digest that",
    "# was not read from a registry. Deleting a line drops that pin.",
];

/** The lock's text: fixed header, `updated`, parents sorted, one per line. */
export function formatParentLock(lock: ParentLock): string {
    const refs = [...lock.pins.keys()].sort();
    const header = [...HEADER];
    if (![...lock.pins.values()].some((d) => d !== undefined)) {
        header.push(
            "# No parent is pinned yet: run `npm run parents -- --stack prod --update` where Docker Hub",
            "# is reachable, commit the result, then set `requirePinnedParents: true` for prod.",
        );
    }
    const lines = [...header, `updated: ${lock.updated ?? "never"}`, refs.length > 0 ? "parents:" : "parents: {}"];
    for (const ref of refs) lines.push(`  ${JSON.stringify(ref)}: ${lock.pins.get(ref) ?? UNPINNED}`);
    return `${lines.join("\n")}\n`;
}

/** Whole days since the lock's `updated` day (undefined if never updated). */
export function lockAgeDays(lock: ParentLock, now: Date): number | undefined {
    if (lock.updated === undefined) return undefined;
    return Math.floor((now.getTime() - Date.parse(`${lock.updated}T00:00:00Z`)) / 86_400_000);
}

/** `YYYY-MM-DD` of a moment, in UTC. */
export function lockDate(now: Date): string {
    return now.toISOString().slice(0, 10);
}
