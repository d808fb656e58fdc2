// `npm run parents -- --stack <name> [--check | --update] [--json]`: the parent images of every
// image the catalog can build (after the stack's `parents` overrides), their pins in
// images/parents.lock, and, with --check or --update, what their tags point to now upstream.
import { CliIO, parseCommandArgs, processIO, readCliStack } from "./common";
import { UserError } from "../errors";
import { formatParentLock, lockDate, lockPath, readParentLock, UNPINNED, writeParentLock } from "../images/parentLock";
import {
    anonymousClients,
    checkExitCode,
    ClientFor,
    ParentStatus,
    ParentUse,
    parentUses,
    resolveParents,
    unresolvedParents,
    updatedLock,
} from "../publish/parentPins";
import * as fs from "fs";

const USAGE = `usage: npm run parents -- --stack <name> [--truss <path>] [--check | --update] [--json]
  Lists every parent image any image of the stack's definition builds FROM (images/, or the
  Truss checkout of truss.checkout or --truss, after the stack's \`parents\` overrides), its pin
  in images/parents.lock and the stack's images that use it.
  --check   asks each pinned parent's registry (anonymously) what its tag points to now.
            Exits 0 when no pin moved; 4 when a tag moved, or is gone upstream while its pinned
            digest is still served (listing old and new digests and the images that would
            rebuild); 1 when a registry could not be asked or a parent can no longer be pulled.
  --update  resolves every parent (pinned or not) and rewrites the lines of images/parents.lock
            whose digest changed (each digest the sha256 of the manifest received); the next plan
            rebuilds exactly the images of those parents. Exits 0; or, when any parent could not
            be resolved (the errors above), 1, naming each and why, with nothing written.
  --json    prints the parents as JSON instead of text.`;

/** Where the parents CLI reads from and writes to; a test may also give the parents' registry clients. */
export interface ParentsIO extends CliIO {
    readonly clientFor?: ClientFor;
}

const shortDigest = (d: string | undefined): string => (d === undefined ? UNPINNED : d.slice(0, "sha256:".length + 12));

function imagesText(use: ParentUse): string {
    if (use.images.length === 0) return `no image of this stack (${use.catalogImages} of the catalog)`;
    return use.images.map((i) => i.slice(i.lastIndexOf("/") + 1)).join(", ");
}

/** PARENT, PIN, IMAGES: one row per parent. */
function table(statuses: readonly { reference: string; pinned?: string; images: readonly string[]; catalogImages: number }[]): string {
    const rows = statuses.map((s) => [s.reference, shortDigest(s.pinned), imagesText(s)]);
    const header = ["PARENT", "PIN", "IMAGES OF THIS STACK"];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    const line = (r: string[]) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join("  ");
    return [line(header), ...rows.map(line)].join("\n");
}

function rebuilds(s: ParentStatus): string {
    return s.images.length === 0
        ? `    rebuilds no image of this stack (${s.catalogImages} of the catalog use it)`
        : `    rebuilds ${s.images.length} image${s.images.length === 1 ? "" : "s"}: ${s.images.join(", ")}`;
}

/** The parents that need a person's attention, one block each. */
function report(statuses: readonly ParentStatus[], changedVerb: string): string {
    const out: string[] = [];
    for (const s of statuses) {
        if (s.state === "moved") {
            out.push(`${changedVerb}: ${s.reference}`, `    pinned   ${s.pinned ?? UNPINNED}`, `    now      ${s.current}`, rebuilds(s));
        } else if (s.state === "tag-gone") {
            out.push(
                `tag gone upstream: ${s.reference}`,
                `    pinned   ${s.pinned} (still served: the images still build from it)`,
                `    choose another tag (catalog or \`parents\` override) before this digest goes too`,
            );
        } else if (s.state === "gone") {
            out.push(
                `gone upstream: ${s.reference}`,
                s.pinned
                    ? `    pinned   ${s.pinned} is not served either: images of this parent can no longer be built`
                    : `    the tag is not served: images of this parent cannot be built`,
                rebuilds(s).replace("rebuilds", "affects"),
            );
        } else if (s.state === "error") {
            out.push(`could not check ${s.reference}: ${s.error}`);
        }
    }
    return out.join("\n");
}

function summary(statuses: readonly ParentStatus[]): string {
    const counts = new Map<string, number>();
    for (const s of statuses) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
    const order = ["unchanged", "moved", "tag-gone", "gone", "unpinned", "error"];
    const parts = order.filter((k) => counts.has(k)).map((k) => `${counts.get(k)} ${k}`);
    return `${statuses.length} parent${statuses.length === 1 ? "" : "s"}${parts.length ? `: ${parts.join(", ")}` : ""}`;
}

function jsonOf(statuses: readonly ParentStatus[], lockFile: string, updated: string | undefined, exitCode?: number) {
    return {
        lock: lockFile,
        updated: updated ?? null,
        ...(exitCode !== undefined ? { exitCode } : {}),
        parents: statuses.map((s) => ({
            reference: s.reference,
            state: s.state,
            pinned: s.pinned ?? null,
            ...(s.current !== undefined ? { current: s.current } : {}),
            ...(s.error !== undefined ? { error: s.error } : {}),
            images: s.images,
            catalogImages: s.catalogImages,
        })),
    };
}

/** Runs the parents CLI; returns the exit code. */
export async function runParents(argv: string[], io: ParentsIO = processIO): Promise<number> {
    const parsed = parseCommandArgs(
        argv,
        { check: { type: "boolean", default: false }, update: { type: "boolean", default: false } },
        USAGE,
        io,
        2,
    );
    if ("exit" in parsed) return parsed.exit;
    const args = parsed.values;
    if (args.check && args.update) {
        io.stderr(`--check and --update cannot be given together: --check only reports, --update rewrites the lock.\n${USAGE}\n`);
        return 2;
    }
    try {
        const { name: stack, config, catalog } = readCliStack(io, args.stack, args.truss);
        const lock = readParentLock(catalog.imagesDir);
        const lockFile = lockPath(catalog.imagesDir);
        const uses = parentUses(config, catalog);
        if (!args.check && !args.update) {
            const statuses: ParentStatus[] = uses.map((u) => {
                const pinned = lock.pins.get(u.reference);
                return { ...u, state: pinned ? "unchanged" : "unpinned", ...(pinned ? { pinned } : {}) };
            });
            const unused = [...lock.pins.keys()].filter((ref) => !uses.some((u) => u.reference === ref));
            if (args.json) {
                const json = jsonOf(statuses, lockFile, lock.updated);
                io.stdout(
                    `${JSON.stringify({ ...json, parents: json.parents.map(({ state: _state, ...rest }) => rest), unused }, null, 2)}\n`,
                );
            } else {
                io.stdout(`${table(statuses)}\n\n${lockFile}: last updated ${lock.updated ?? "never"}\n`);
                if (unused.length > 0)
                    io.stdout(`In the lock but used by no image of the catalog with this stack's overrides: ${unused.join(", ")}\n`);
            }
            return 0;
        }
        const clientFor = io.clientFor ?? anonymousClients();
        const statuses = await resolveParents(uses, lock, clientFor, { includeUnpinned: args.update });
        if (args.check) {
            const code = checkExitCode(statuses);
            if (args.json) io.stdout(`${JSON.stringify(jsonOf(statuses, lockFile, lock.updated, code), null, 2)}\n`);
            else {
                const text = report(statuses, "moved");
                io.stdout(`${text ? `${text}\n\n` : ""}${summary(statuses)}\n`);
                if (code === 4) io.stdout(`Pin the new digests with \`npm run parents -- --stack ${stack} --update\`.\n`);
            }
            return code;
        }
        // All or nothing: a lock half-updated would pin some parents to today's digests and keep
        // others at older ones, a state no single moment upstream had.
        const unresolved = unresolvedParents(statuses);
        if (unresolved.length > 0) {
            if (args.json) io.stdout(`${JSON.stringify({ ...jsonOf(statuses, lockFile, lock.updated, 1), written: false }, null, 2)}\n`);
            else io.stdout(`${report(statuses, "moved")}\n\n${summary(statuses)}\n`);
            io.stderr(
                `${lockFile} was not changed: ${unresolved.length} of ${statuses.length} parent${statuses.length === 1 ? "" : "s"} could not be resolved, ` +
                    `and the lock is updated only as a whole:\n` +
                    unresolved
                        .map(
                            (s) =>
                                `  - ${s.reference}: ${s.state === "gone" ? "gone upstream (the tag, and the pin if any, are not served)" : s.error}`,
                        )
                        .join("\n") +
                    `\nFix what is named above (a registry to reach, or another tag for a gone parent in the catalog or the stack's \`parents\`), ` +
                    `then run \`npm run parents -- --stack ${stack} --update\` again.\n`,
            );
            return 1;
        }
        const now = io.now?.() ?? new Date();
        const { lock: next, changed } = updatedLock(lock, statuses, lockDate(now));
        const before = fs.existsSync(lockFile) ? fs.readFileSync(lockFile, "utf8") : "";
        const after = formatParentLock(next);
        if (after !== before) writeParentLock(catalog.imagesDir, next);
        const code = 0;
        // What was written: a newly pinned parent reads as moved from "unpinned".
        const shown = statuses.map((s) => (changed.includes(s) ? { ...s, state: "moved" as const } : s));
        if (args.json)
            io.stdout(`${JSON.stringify({ ...jsonOf(statuses, lockFile, next.updated, code), written: after !== before }, null, 2)}\n`);
        else {
            const text = report(shown, "pinned");
            io.stdout(
                `${text ? `${text}\n\n` : ""}${summary(statuses)}\n` +
                    (changed.length > 0
                        ? `${lockFile}: ${changed.length} line${changed.length === 1 ? "" : "s"} changed; commit it, and the next plan rebuilds the images above.\n`
                        : `${lockFile}: no digest changed.\n`),
            );
        }
        return code;
    } catch (e) {
        if (e instanceof UserError) {
            io.stderr(`${e.message.trimEnd()}\n`);
            return 1;
        }
        throw e;
    }
}

if (require.main === module) {
    runParents(process.argv.slice(2)).then(
        (code) => (process.exitCode = code),
        (e) => {
            process.stderr.write(`${(e as Error).stack ?? e}\n`);
            process.exitCode = 1;
        },
    );
}
