import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Catalog, catalogParent, trussDockerfile } from "./catalog";
import { checkoutFile } from "./trussCheckout";
import { fromReferences } from "./dockerfile";
import { usedContextFiles } from "./trussContext";
import type { ContentDigest, ImageSpec } from "./spec";
import { CONTENT_DIGEST_ARG, LABELS, staticLabels } from "./labels";
import type { Compression } from "./platforms";
import { fromLines, rewriteFrom } from "./dockerfile";
import { EMPTY_LOCK, namesDigest, ParentLock, pinnedReference, pinOf } from "./parentLock";

/** A file of a staged build context. Modes are fixed; there are no timestamps. */
export interface StagedFile {
    /** Relative, `/`-separated. */
    readonly path: string;
    readonly mode: number;
    readonly content: Buffer;
}

/**
 * Everything one image is built from: the exact files of its build context, its build
 * arguments, its parent image and platform. Its content digest hashes all of it.
 */
export interface StagedContext {
    readonly spec: ImageSpec;
    /** Sorted by path. */
    readonly files: readonly StagedFile[];
    /** Without the content digest argument, which is derived from the rest. */
    readonly buildArgs: Readonly<Record<string, string>>;
    /** What the image builds FROM: `<reference>@sha256:...` when the parent lock pins it. */
    readonly parent: string;
    readonly platform: string;
    /** gzip when absent. */
    readonly compression?: Compression;
    readonly contentDigest: ContentDigest;
    /** Parent references of the Dockerfile's FROM lines that the parent lock does not pin. */
    readonly unpinnedParents: readonly string[];
}

export const FILE_MODE = 0o644;
export const DIR_MODE = 0o755;
/** Every staged file and folder gets this mtime (2000-01-01T00:00:00Z), so nothing depends on when it was written. */
export const FIXED_MTIME = new Date(Date.UTC(2000, 0, 1));
const DIGEST_FORMAT = "truss-base-images content digest v1";

/** Parent overrides from the `parents` config key: catalog reference -> reference to use. */
export type ParentOverrides = Readonly<Record<string, string>>;

/** The parent reference an image is built FROM, after the stack's `parents` overrides. */
export function resolveParent(catalog: Catalog, spec: ImageSpec, parents: ParentOverrides = {}): string {
    const ref = catalogParent(catalog, spec.python, spec.accelerator, spec.jobType);
    return parents[ref] ?? ref;
}

/** The LABEL instructions appended to every staged Dockerfile: label names live in one place. */
function labelBlock(spec: ImageSpec, catalog: Catalog): string {
    const labels = { ...staticLabels(spec, catalog), [LABELS.contentDigest]: `\${${CONTENT_DIGEST_ARG}}` };
    const lines = Object.entries(labels)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => `      ${JSON.stringify(k)}=${JSON.stringify(v)}`);
    return [
        "",
        "# Added by truss-base-images when staging; the label names are in src/images/labels.ts.",
        `ARG ${CONTENT_DIGEST_ARG}`,
        `LABEL ${lines.join(" \\\n").trimStart()}`,
        "",
    ].join("\n");
}

/**
 * The build context of one image, in memory, with its content digest. The `parents` overrides
 * apply first; then every FROM of the staged Dockerfile whose reference the lock pins builds
 * from `<reference>@<digest>` instead. Without pins nothing changes, digest included.
 * `platform` defaults to the catalog's (linux/amd64), `compression` to gzip: with both defaults
 * the digest is the one every existing tag carries.
 */
export function stageImage(
    catalog: Catalog,
    spec: ImageSpec,
    parents: ParentOverrides = {},
    lock: ParentLock = EMPTY_LOCK,
    platform: string = catalog.platform,
    compression: Compression = "gzip",
): StagedContext {
    if (catalog.truss) return stageTrussImage(catalog, spec, parents, lock, platform, compression);
    const jobType = catalog.jobTypes.get(spec.jobType);
    const python = catalog.pythonVersions.get(spec.python);
    if (!jobType) throw new Error(`job type ${spec.jobType} is not in the catalog`);
    if (!python) throw new Error(`python ${spec.python} is not in the catalog`);
    const read = (rel: string): Buffer => catalog.files.get(rel) as Buffer;

    const unpinnedDockerfile = Buffer.concat([
        ensureTrailingNewline(read(catalog.accelerators[spec.accelerator].dockerfile)),
        Buffer.from(labelBlock(spec, catalog)),
    ]);
    const parent = resolveParent(catalog, spec, parents);
    const unpinnedArgs: Record<string, string> = {
        PARENT_IMAGE: parent,
        PYTHON_VERSION: spec.python,
        LIVE_RELOAD: String(spec.liveReload),
    };
    if (spec.accelerator === "gpu") {
        unpinnedArgs.PYTHON_APT_PACKAGES = python.gpuAptPackages.join(" ");
        if (python.getPipUrl) unpinnedArgs.GET_PIP_URL = python.getPipUrl;
    }
    const pinned = applyParentPins(unpinnedDockerfile.toString("utf8"), unpinnedArgs, lock);
    const dockerfile = pinned.changedDockerfile ? Buffer.from(pinned.dockerfile) : unpinnedDockerfile;
    const buildArgs = pinned.buildArgs;
    const files: StagedFile[] = [
        { path: "Dockerfile", mode: FILE_MODE, content: dockerfile },
        { path: "requirements.txt", mode: FILE_MODE, content: read(jobType.requirements) },
    ];
    if (spec.liveReload) {
        files.push({ path: "control/requirements.txt", mode: FILE_MODE, content: read(catalog.liveReload.requirements) });
    }
    return staged({ spec, files, buildArgs, parent, lock, platform, compression, unpinned: pinned.unpinned });
}

/** A staged context from its parts: files sorted, the parent pinned as the lock says, the content digest over all of it. */
function staged(p: {
    spec: ImageSpec;
    files: StagedFile[];
    buildArgs: Record<string, string>;
    parent: string;
    lock: ParentLock;
    platform: string;
    compression: Compression;
    unpinned: string[];
}): StagedContext {
    const files = [...p.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const digest = namesDigest(p.parent) ? undefined : pinOf(p.lock, p.parent);
    const builtFrom = digest ? pinnedReference(p.parent, digest) : p.parent;
    return {
        spec: p.spec,
        files,
        buildArgs: p.buildArgs,
        parent: builtFrom,
        platform: p.platform,
        ...(p.compression === "gzip" ? {} : { compression: p.compression }),
        contentDigest: contentDigestOf(files, p.buildArgs, builtFrom, p.platform, p.compression),
        unpinnedParents: p.unpinned,
    };
}

/**
 * Pins the FROM lines of a Dockerfile: a FROM that names a build argument (`FROM ${PARENT_IMAGE}`)
 * gets the pinned reference through that argument, any other FROM is rewritten in the text.
 * References that already name a digest are left as they are.
 */
export function applyParentPins(
    dockerfile: string,
    buildArgs: Readonly<Record<string, string>>,
    lock: ParentLock,
): { dockerfile: string; changedDockerfile: boolean; buildArgs: Record<string, string>; unpinned: string[] } {
    let text = dockerfile;
    const args = { ...buildArgs };
    const unpinned = new Set<string>();
    // Bottom up, so that a rewrite never moves a line still to be rewritten.
    for (const from of fromLines(dockerfile, buildArgs).reverse()) {
        if (namesDigest(from.reference)) continue;
        const digest = pinOf(lock, from.reference);
        if (digest === undefined) {
            unpinned.add(from.reference);
            continue;
        }
        const image = pinnedReference(from.reference, digest);
        if (from.viaArg !== undefined && args[from.viaArg] === from.reference) args[from.viaArg] = image;
        else text = rewriteFrom(text, from.line, from.written, image);
    }
    return { dockerfile: text, changedDockerfile: text !== dockerfile, buildArgs: args, unpinned: [...unpinned].sort() };
}

/**
 * An image of a Truss checkout: the Dockerfile its template renders (each FROM of an overridden
 * parent replaced by its override, then each pinned one by its pin), then our label block; and
 * of the build context Truss's script makes, exactly the files that Dockerfile copies. No build
 * arguments: the template declares none.
 */
function stageTrussImage(
    catalog: Catalog,
    spec: ImageSpec,
    parents: ParentOverrides,
    lock: ParentLock,
    platform: string,
    compression: Compression,
): StagedContext {
    const checkout = catalog.truss!;
    if (!catalog.jobTypes.has(spec.jobType)) throw new Error(`job type ${spec.jobType} is not in the Truss checkout`);
    let rendered = trussDockerfile(checkout, spec.jobType, spec.python, spec.accelerator, spec.liveReload);
    for (const ref of new Set(fromReferences(rendered))) {
        const override = parents[ref];
        if (override !== undefined) {
            const escaped = ref.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
            rendered = rendered.replace(new RegExp(`^(\\s*FROM\\s+(?:--\\S+\\s+)*)${escaped}(?=\\s|$)`, "gim"), (_, from: string) => `${from}${override}`);
        }
    }
    const pinned = applyParentPins(rendered, {}, lock);
    const dockerfile = Buffer.concat([ensureTrailingNewline(Buffer.from(pinned.dockerfile)), Buffer.from(labelBlock(spec, catalog))]);
    const files: StagedFile[] = [
        { path: "Dockerfile", mode: FILE_MODE, content: dockerfile },
        ...usedContextFiles(checkout, spec, rendered).map((f) => ({
            path: f.path,
            mode: FILE_MODE,
            content: catalog.files.get(f.from) ?? checkoutFile(checkout, f.from),
        })),
    ];
    const parent = resolveParent(catalog, spec, parents);
    return staged({ spec, files, buildArgs: {}, parent, lock, platform, compression, unpinned: pinned.unpinned });
}

function ensureTrailingNewline(b: Buffer): Buffer {
    return b.length === 0 || b[b.length - 1] === 0x0a ? b : Buffer.concat([b, Buffer.from("\n")]);
}

const sha256 = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");

/**
 * sha256 over a canonical text: the format, platform, parent reference, build arguments and,
 * per file, its path, mode and the sha256 of its bytes. The version tag is not in it.
 * A compression other than gzip adds a `compression` line: an eStargz image has other layer
 * bytes than the gzip one (so a tag holding one never passes for the other), while every gzip
 * digest stays what it was before compression was configurable.
 */
export function contentDigestOf(
    files: readonly StagedFile[],
    buildArgs: Readonly<Record<string, string>>,
    parent: string,
    platform: string,
    compression: Compression = "gzip",
): ContentDigest {
    const lines = [DIGEST_FORMAT, `platform ${platform}`, `parent ${parent}`];
    if (compression !== "gzip") lines.push(`compression ${compression}`);
    for (const key of Object.keys(buildArgs).sort()) lines.push(`arg ${key}=${JSON.stringify(buildArgs[key])}`);
    for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : 1))) {
        lines.push(`file ${JSON.stringify(f.path)} ${f.mode.toString(8)} ${sha256(f.content)}`);
    }
    return `sha256:${sha256(lines.join("\n") + "\n")}`;
}

/** The build arguments a build passes: the staged ones plus the content digest for its label. */
export function buildArgsWithDigest(staged: StagedContext): Record<string, string> {
    return { ...staged.buildArgs, [CONTENT_DIGEST_ARG]: staged.contentDigest };
}

/** `<root>/<hex of the content digest>`: one folder per distinct content. */
export function contextDir(root: string, staged: StagedContext): string {
    return path.join(root, staged.contentDigest.slice("sha256:".length));
}

/**
 * Writes the staged context under `root` (folder named by its content digest) and returns the
 * folder. Writes are atomic (a temporary folder renamed into place); an existing folder with
 * exactly the staged files is left as it is, anything else there is replaced.
 */
export function writeContext(root: string, staged: StagedContext): string {
    const dir = contextDir(root, staged);
    if (matchesOnDisk(dir, staged)) return dir;
    fs.mkdirSync(root, { recursive: true });
    const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
        for (const f of staged.files) {
            const target = path.join(tmp, ...f.path.split("/"));
            fs.mkdirSync(path.dirname(target), { recursive: true });
            fs.writeFileSync(target, f.content);
            fs.chmodSync(target, f.mode);
            fs.utimesSync(target, FIXED_MTIME, FIXED_MTIME);
        }
        fixDirs(tmp);
        fs.rmSync(dir, { recursive: true, force: true });
        fs.renameSync(tmp, dir);
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
    return dir;
}

function fixDirs(dir: string): void {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) fixDirs(path.join(dir, entry.name));
    }
    fs.chmodSync(dir, DIR_MODE);
    fs.utimesSync(dir, FIXED_MTIME, FIXED_MTIME);
}

/** Every entry under a folder as a relative `/` path, folders with a trailing `/`, sorted. */
function listTree(dir: string, prefix = ""): string[] {
    const out: string[] = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
        if (entry.isDirectory()) out.push(`${rel}/`, ...listTree(path.join(dir, entry.name), rel));
        else out.push(rel);
    }
    return out.sort();
}

/** Whether `dir` holds exactly the staged files and folders (an empty stray folder counts), with their fixed modes and mtime. */
function matchesOnDisk(dir: string, staged: StagedContext): boolean {
    try {
        const dirs = new Set<string>();
        for (const f of staged.files) {
            const parts = f.path.split("/");
            for (let i = 1; i < parts.length; i++) dirs.add(`${parts.slice(0, i).join("/")}/`);
        }
        const expected = [...staged.files.map((f) => f.path), ...dirs].sort();
        if (listTree(dir).join("\n") !== expected.join("\n")) return false;
        const fixed = (rel: string, mode: number, isDir: boolean): boolean => {
            const st = fs.lstatSync(path.join(dir, ...rel.split("/").filter((p) => p !== "")));
            return (isDir ? st.isDirectory() : st.isFile()) && (st.mode & 0o777) === mode && st.mtimeMs === FIXED_MTIME.getTime();
        };
        return (
            ["", ...dirs].every((d) => fixed(d, DIR_MODE, true)) &&
            staged.files.every((f) => fixed(f.path, f.mode, false) && fs.readFileSync(path.join(dir, ...f.path.split("/"))).equals(f.content))
        );
    } catch {
        return false;
    }
}
