import * as fs from "fs";
import { UserError } from "../errors";
import { Rendered, renderTemplate, TemplateError } from "./jinja";
import { Catalog, comparePython, JobType, PythonVersion } from "./catalog";
import { CheckoutFiles } from "./checkoutFiles";
import type { ImageSpec } from "./spec";

/**
 * A Truss checkout as the definition of the base images: the files of the Truss repository
 * that say what goes into a base image, read the way Truss's own `bin/generate_base_images.py`
 * reads them, in both layouts Truss has had (2023: server and training images, the python
 * versions in the script; today: server images only, the python versions in
 * `truss/base/constants.py`).
 */

/** Paths inside a checkout, `/`-separated. */
export const TRUSS_PATHS = {
    template: "docker/base_images/base_image.Dockerfile.jinja",
    versionTag: "truss/contexts/image_builder/util.py",
    templates: "truss/templates",
    control: "truss/templates/control",
    pyproject: "pyproject.toml",
} as const;

/**
 * Where `{% include name %}` looks, in order: the folders of the loader Truss's script gave
 * Jinja2 while its template included `truss_build_template_path` (2023; before and since, the
 * template included nothing).
 */
export const TEMPLATE_FOLDERS = ["docker/base_images", "truss/templates"] as const;

/**
 * In 2023's layout Truss's script passed `truss_build_template_path` to the template: the value
 * of this name in this file (`_truss_build.Dockerfile.jinja`, a template of truss/templates).
 */
export const BUILD_TEMPLATE_SOURCE = { file: "truss/constants.py", name: "TRUSS_BUILD_DOCKERFILE_TEMPLATE_NAME" } as const;

/** `truss/templates/<jobType>/requirements.txt` */
export function requirementsPath(jobType: JobType): string {
    return `${TRUSS_PATHS.templates}/${jobType}/requirements.txt`;
}

/** Where each Truss layout keeps its supported python versions, newest layout first. */
export const PYTHON_VERSION_SOURCES = [
    { file: "truss/base/constants.py", name: "SUPPORTED_PYTHON_VERSIONS" },
    { file: "truss/constants.py", name: "SUPPORTED_PYTHON_VERSIONS" },
    { file: "bin/generate_base_images.py", name: "PYTHON_VERSIONS" },
] as const;

const VERSION_TAG_NAME = "TRUSS_BASE_IMAGE_VERSION_TAG";

/** What a checkout says about its base images. */
export interface TrussCheckout {
    /** Absolute path of the checkout. */
    readonly dir: string;
    readonly template: string;
    /** TRUSS_BASE_IMAGE_VERSION_TAG */
    readonly versionTag: string;
    /** In version order. */
    readonly pythonVersions: readonly PythonVersion[];
    /** e.g. `SUPPORTED_PYTHON_VERSIONS in truss/base/constants.py` */
    readonly pythonVersionsSource: string;
    /** Job type -> its requirements file, relative to the checkout. */
    readonly jobTypes: ReadonlyMap<JobType, string>;
    /** The `version` of pyproject.toml ([project] or [tool.poetry]); undefined when there is none. */
    readonly packageVersion?: string;
    /** `truss_build_template_path` as Truss's script passed it (2023's layout); undefined when the checkout defines none. */
    readonly buildTemplatePath?: string;
}

/** The file reader of each checkout read, so that every file is read once and within its limits. */
const readers = new WeakMap<TrussCheckout, CheckoutFiles>();

function filesOf(checkout: TrussCheckout): CheckoutFiles {
    let files = readers.get(checkout);
    if (!files) readers.set(checkout, (files = new CheckoutFiles(checkout.dir)));
    return files;
}

/** The bytes of a file of the checkout (a regular file inside it, within the size limits); one clear error otherwise. */
export function checkoutFile(checkout: TrussCheckout, rel: string): Buffer {
    return filesOf(checkout).require(rel);
}

/** A file of the checkout is missing or not what Truss keeps there. */
export class TrussCheckoutError extends UserError {}

function problem(dir: string, rel: string, expected: string, found: string): TrussCheckoutError {
    return new TrussCheckoutError(
        `Truss checkout ${dir}: ${rel}: expected ${expected}; found ${found}. Nothing was declared or published.`,
    );
}

/** One-line excerpt for messages. */
function excerpt(text: string): string {
    const t = text.replace(/\s+/g, " ").trim();
    return JSON.stringify(t.length > 120 ? `${t.slice(0, 117)}...` : t);
}

/** The string literal assigned to a top-level Python name, or a description of what is there instead. */
function pythonString(text: string, name: string): { value?: string; found: string } {
    const line = new RegExp(`^${name}\\s*(?::[^=]*)?=\\s*(.*)$`, "m").exec(text);
    if (!line) return { found: `no assignment to ${name}` };
    const literal = /^(["'])([^"'\\\n]*)\1\s*(?:#.*)?$/.exec(line[1].trim());
    return literal ? { value: literal[2], found: "" } : { found: `${name} = ${excerpt(line[1])}, which is not a plain string` };
}

/** A list, set or tuple of python version strings assigned to a top-level name. */
function pythonVersionList(text: string, name: string): { value?: string[]; found: string } | undefined {
    const m = new RegExp(`^${name}\\s*(?::[^=]*)?=\\s*([\\[{(])([^\\]})]*)([\\]})])`, "m").exec(text);
    if (!m) {
        const bare = new RegExp(`^${name}\\s*(?::[^=]*)?=\\s*(.*)$`, "m").exec(text);
        return bare ? { found: `${name} = ${excerpt(bare[1])}` } : undefined;
    }
    const items = m[2]
        .replace(/#[^\n]*/g, "")
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
    const versions: string[] = [];
    for (const item of items) {
        const v = /^(["'])(3\.\d+)\1$/.exec(item);
        if (!v) return { found: `${name} = ${excerpt(m[1] + m[2] + m[3])}, whose item ${item} is not a quoted python version` };
        versions.push(v[2]);
    }
    if (versions.length === 0) return { found: `${name} = ${excerpt(m[1] + m[2] + m[3])}, which is empty` };
    return { value: [...new Set(versions)].sort(comparePython), found: "" };
}

/** `version = "..."` of pyproject.toml's [project] table, or of [tool.poetry] in older layouts. */
function packageVersionOf(text: string | undefined): string | undefined {
    if (text === undefined) return undefined;
    let table = "";
    for (const raw of text.split("\n")) {
        const line = raw.trim();
        const header = /^\[([^\]]+)\]$/.exec(line);
        if (header) table = header[1].trim();
        else if (table === "project" || table === "tool.poetry") {
            const v = /^version\s*=\s*"([^"]+)"/.exec(line);
            if (v) return v[1];
        }
    }
    return undefined;
}

/**
 * Reads what a checkout says about its base images. Throws one TrussCheckoutError naming the
 * file, what was expected and what was found.
 */
export function readTrussCheckout(dir: string): TrussCheckout {
    let isDir = false;
    try {
        isDir = fs.statSync(dir).isDirectory();
    } catch {
        isDir = false;
    }
    if (!isDir) throw new TrussCheckoutError(`No Truss checkout at ${dir}: there is no folder there.`);
    const files = new CheckoutFiles(dir);

    const template = files.text(TRUSS_PATHS.template);
    if (template === undefined) {
        throw problem(dir, TRUSS_PATHS.template, "the Jinja template of the base images", "no such file (is this a Truss checkout?)");
    }

    const util = files.text(TRUSS_PATHS.versionTag);
    if (util === undefined) throw problem(dir, TRUSS_PATHS.versionTag, `${VERSION_TAG_NAME} = "v..."`, "no such file");
    const tag = pythonString(util, VERSION_TAG_NAME);
    if (tag.value === undefined || tag.value === "") {
        throw problem(dir, TRUSS_PATHS.versionTag, `a line ${VERSION_TAG_NAME} = "v..." (a string literal)`, tag.found || "an empty string");
    }

    let pythons: { value?: string[]; found: string; source: string } | undefined;
    for (const s of PYTHON_VERSION_SOURCES) {
        const text = files.text(s.file);
        if (text === undefined) continue;
        const found = pythonVersionList(text, s.name);
        if (found) {
            pythons = { ...found, source: `${s.name} in ${s.file}` };
            if (found.value === undefined) throw problem(dir, s.file, `${s.name} = ["3.9", ...] (quoted python versions)`, found.found);
            break;
        }
    }
    if (!pythons?.value) {
        throw problem(
            dir,
            PYTHON_VERSION_SOURCES.map((s) => s.file).join(" or "),
            `the supported python versions (${PYTHON_VERSION_SOURCES.map((s) => `${s.name} in ${s.file}`).join(", ")})`,
            "none of them",
        );
    }

    const jobTypes = new Map<JobType, string>();
    const entries = files.list(TRUSS_PATHS.templates);
    if (entries === undefined) {
        throw problem(dir, TRUSS_PATHS.templates, "a folder with one folder per job type holding its requirements.txt", "no such folder");
    }
    for (const e of entries.filter((e) => e.kind === "folder")) {
        // The control server's requirements are not a job type: they went into live-reload images.
        if (`${TRUSS_PATHS.templates}/${e.name}` === TRUSS_PATHS.control) continue;
        if (files.read(requirementsPath(e.name)) !== undefined) jobTypes.set(e.name, requirementsPath(e.name));
    }
    if (jobTypes.size === 0) throw problem(dir, requirementsPath("<jobType>"), "the requirements of at least one job type", "none");

    const constants = files.text(BUILD_TEMPLATE_SOURCE.file);
    const buildTemplatePath = constants === undefined ? undefined : pythonString(constants, BUILD_TEMPLATE_SOURCE.name).value;

    const checkout: TrussCheckout = {
        dir,
        template,
        versionTag: tag.value,
        pythonVersions: pythons.value,
        pythonVersionsSource: pythons.source,
        jobTypes,
        packageVersion: packageVersionOf(files.text(TRUSS_PATHS.pyproject)),
        ...(buildTemplatePath ? { buildTemplatePath } : {}),
    };
    readers.set(checkout, files);
    return checkout;
}

/** An image as the template sees it. */
export type TemplateSpec = Pick<ImageSpec, "jobType" | "python" | "accelerator"> & { readonly liveReload?: boolean };

/** The Dockerfile Truss's script renders for an image (before our label block). */
export function renderTrussDockerfile(checkout: TrussCheckout, spec: TemplateSpec): string {
    return renderTrussTemplate(checkout, spec).text;
}

/**
 * The template rendered as Truss's script renders it: with `use_gpu`, `python_version`,
 * `job_type`, `live_reload` (which 2023's scripts passed and today's template does not read) and,
 * where the checkout defines it, `truss_build_template_path`; includes found in
 * TEMPLATE_FOLDERS. Also says which of those variables the template read.
 */
export function renderTrussTemplate(checkout: TrussCheckout, spec: TemplateSpec): Rendered {
    const files = filesOf(checkout);
    const variables: Record<string, string | boolean> = {
        use_gpu: spec.accelerator === "gpu",
        python_version: spec.python,
        job_type: spec.jobType,
        live_reload: spec.liveReload ?? false,
    };
    if (checkout.buildTemplatePath !== undefined) variables.truss_build_template_path = checkout.buildTemplatePath;
    try {
        return renderTemplate({
            file: TRUSS_PATHS.template,
            source: checkout.template,
            variables,
            include: (name) => {
                for (const folder of TEMPLATE_FOLDERS) {
                    const file = `${folder}/${name}`;
                    const source = files.text(file);
                    if (source !== undefined) return { file, source };
                }
                return undefined;
            },
            undefinedHint: (name) =>
                name === "truss_build_template_path"
                    ? `Truss's script passed it from ${BUILD_TEMPLATE_SOURCE.name} in ${BUILD_TEMPLATE_SOURCE.file}, which this checkout does not define`
                    : undefined,
        });
    } catch (e) {
        if (e instanceof TemplateError) {
            throw new TrussCheckoutError(
                `Truss checkout ${checkout.dir}: ${e.message} (rendering for ${spec.jobType} ${spec.python} ${spec.accelerator}${spec.liveReload ? " live-reload" : ""}). Nothing was declared or published.`,
            );
        }
        throw e;
    }
}

/** One instruction of a Dockerfile, continuation lines joined. */
interface Instruction {
    readonly keyword: string;
    readonly args: string;
}

function instructions(dockerfile: string): Instruction[] {
    const out: Instruction[] = [];
    let pending = "";
    for (const line of dockerfile.split("\n")) {
        if (pending === "" && /^\s*(#|$)/.test(line)) continue;
        if (/\\\s*$/.test(line)) {
            pending += line.replace(/\\\s*$/, " ");
            continue;
        }
        const full = (pending + line).trim();
        pending = "";
        const m = /^(\w+)\s*(.*)$/s.exec(full);
        if (m) out.push({ keyword: m[1].toUpperCase(), args: m[2] });
    }
    return out;
}

/** The image references of every FROM, in order (`FROM python:3.9 AS build` -> `python:3.9`). */
export function fromReferences(dockerfile: string): string[] {
    return instructions(dockerfile)
        .filter((i) => i.keyword === "FROM")
        .map((i) => i.args.split(/\s+/).filter((t) => !t.startsWith("--"))[0])
        .filter((r): r is string => r !== undefined);
}

/**
 * The build-context paths a Dockerfile's COPY and ADD instructions read (not `--from` copies
 * between stages), normalized: no leading `./`, no trailing `/`; `` for the whole context.
 */
export function contextSources(dockerfile: string): string[] {
    const out: string[] = [];
    for (const i of instructions(dockerfile)) {
        if (i.keyword !== "COPY" && i.keyword !== "ADD") continue;
        let tokens: string[];
        if (i.args.trimStart().startsWith("[")) {
            try {
                tokens = JSON.parse(i.args) as string[];
            } catch {
                tokens = i.args.split(/\s+/);
            }
        } else tokens = i.args.split(/\s+/).filter((t) => t !== "");
        const flags = tokens.filter((t) => t.startsWith("--"));
        if (flags.some((f) => f.startsWith("--from"))) continue;
        const paths = tokens.filter((t) => !t.startsWith("--"));
        for (const src of paths.slice(0, -1)) {
            if (/^[a-z]+:\/\//i.test(src)) continue;
            out.push(
                src
                    .replace(/^(\.\/)+/, "")
                    .replace(/\/+$/, "")
                    .replace(/^\.$/, ""),
            );
        }
    }
    return out;
}

function globRegExp(pattern: string): RegExp {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]");
    return new RegExp(`^${body}(?:/.*)?$`);
}

/** A file of the build context Truss's script makes, with where it comes from in the checkout. */
export interface ContextFile {
    /** Path in the build context. */
    readonly path: string;
    /** Path in the checkout. */
    readonly from: string;
}

/**
 * Every file of the build context Truss's script makes for a job type: `requirements.txt` (the
 * job type's) and `control/` (a copy of truss/templates/control). The control files are listed
 * only when asked, since only a template that copies them needs them.
 */
export function trussContextFiles(checkout: TrussCheckout, jobType: JobType, withControl: boolean): ContextFile[] {
    const files: ContextFile[] = [{ path: "requirements.txt", from: checkout.jobTypes.get(jobType) as string }];
    if (withControl) {
        for (const from of filesOf(checkout).walk(TRUSS_PATHS.control)) {
            files.push({ path: `control/${from.slice(TRUSS_PATHS.control.length + 1)}`, from });
        }
    }
    return files;
}

/**
 * The files of the context that the rendered Dockerfile reads: exactly those, so that a file of
 * the checkout reaches an image's content digest if and only if its build uses it.
 */
export function usedContextFiles(checkout: TrussCheckout, spec: ImageSpec, dockerfile: string): ContextFile[] {
    const sources = contextSources(dockerfile);
    const withControl = sources.some((s) => s === "" || s.startsWith("control") || /[*?]/.test(s));
    const available = trussContextFiles(checkout, spec.jobType, withControl);
    const used = new Map<string, ContextFile>();
    for (const src of sources) {
        const matching = src === "" ? available : available.filter((f) => globRegExp(src).test(f.path));
        if (matching.length === 0) {
            throw problem(
                checkout.dir,
                TRUSS_PATHS.template,
                `COPY and ADD sources that Truss's script puts in the build context (requirements.txt, control/)`,
                `that the Dockerfile for ${spec.jobType} ${spec.python} ${spec.accelerator} copies ${JSON.stringify(src || ".")}, which is not there`,
            );
        }
        for (const f of matching) used.set(f.path, f);
    }
    return [...used.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The python versions, job types and files of a checkout as a catalog the rest of the program plans from. */
export function trussCatalog(checkout: TrussCheckout, base: Pick<Catalog, "platform" | "source" | "imagesDir">): Catalog {
    const files = new Map<string, Buffer>();
    files.set(TRUSS_PATHS.template, Buffer.from(checkout.template));
    for (const rel of checkout.jobTypes.values()) files.set(rel, checkoutFile(checkout, rel));
    return {
        dir: checkout.dir,
        imagesDir: base.imagesDir,
        platform: base.platform,
        source: base.source,
        jobTypes: new Map([...checkout.jobTypes].map(([jt, rel]) => [jt, { requirements: rel }])),
        liveReload: { requirements: `${TRUSS_PATHS.control}/requirements.txt` },
        accelerators: {
            cpu: { dockerfile: TRUSS_PATHS.template, parent: "" },
            gpu: { dockerfile: TRUSS_PATHS.template, parent: "" },
        },
        pythonVersions: new Map(checkout.pythonVersions.map((v) => [v, { gpuAptPackages: [] }])),
        files,
        truss: checkout,
    };
}
