import * as fs from "fs";
import { UserError } from "../errors";
import { comparePython, JobType, PythonVersion } from "./dimensions";
import { CheckoutFiles } from "./checkoutFiles";

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
    /** `truss_build_template_path` as Truss's script passed it (2023's layout); undefined when the checkout defines none. */
    readonly buildTemplatePath?: string;
}

/** The file reader of each checkout read, so that every file is read once and within its limits. */
const readers = new WeakMap<TrussCheckout, CheckoutFiles>();

/** The reader of a checkout's files (checkoutFiles.ts): only regular files inside it, within the size limits. */
export function checkoutFiles(checkout: TrussCheckout): CheckoutFiles {
    let files = readers.get(checkout);
    if (!files) readers.set(checkout, (files = new CheckoutFiles(checkout.dir)));
    return files;
}

/** The bytes of a file of the checkout (a regular file inside it, within the size limits); one clear error otherwise. */
export function checkoutFile(checkout: TrussCheckout, rel: string): Buffer {
    return checkoutFiles(checkout).require(rel);
}

/** A file of the checkout is missing or not what Truss keeps there. */
export class TrussCheckoutError extends UserError {}

/** A checkout file that is not what the program expects: one message naming the file, what was expected and what was found. */
export function checkoutProblem(dir: string, rel: string, expected: string, found: string): TrussCheckoutError {
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
        throw checkoutProblem(dir, TRUSS_PATHS.template, "the Jinja template of the base images", "no such file (is this a Truss checkout?)");
    }

    const util = files.text(TRUSS_PATHS.versionTag);
    if (util === undefined) throw checkoutProblem(dir, TRUSS_PATHS.versionTag, `${VERSION_TAG_NAME} = "v..."`, "no such file");
    const tag = pythonString(util, VERSION_TAG_NAME);
    if (tag.value === undefined || tag.value === "") {
        throw checkoutProblem(dir, TRUSS_PATHS.versionTag, `a line ${VERSION_TAG_NAME} = "v..." (a string literal)`, tag.found || "an empty string");
    }

    let pythons: { value?: string[]; found: string; source: string } | undefined;
    for (const s of PYTHON_VERSION_SOURCES) {
        const text = files.text(s.file);
        if (text === undefined) continue;
        const found = pythonVersionList(text, s.name);
        if (found) {
            pythons = { ...found, source: `${s.name} in ${s.file}` };
            if (found.value === undefined) throw checkoutProblem(dir, s.file, `${s.name} = ["3.9", ...] (quoted python versions)`, found.found);
            break;
        }
    }
    if (!pythons?.value) {
        throw checkoutProblem(
            dir,
            PYTHON_VERSION_SOURCES.map((s) => s.file).join(" or "),
            `the supported python versions (${PYTHON_VERSION_SOURCES.map((s) => `${s.name} in ${s.file}`).join(", ")})`,
            "none of them",
        );
    }

    const jobTypes = new Map<JobType, string>();
    const entries = files.list(TRUSS_PATHS.templates);
    if (entries === undefined) {
        throw checkoutProblem(dir, TRUSS_PATHS.templates, "a folder with one folder per job type holding its requirements.txt", "no such folder");
    }
    for (const e of entries.filter((e) => e.kind === "folder")) {
        // The control server's requirements are not a job type: they went into live-reload images.
        if (`${TRUSS_PATHS.templates}/${e.name}` === TRUSS_PATHS.control) continue;
        if (files.read(requirementsPath(e.name)) !== undefined) jobTypes.set(e.name, requirementsPath(e.name));
    }
    if (jobTypes.size === 0) throw checkoutProblem(dir, requirementsPath("<jobType>"), "the requirements of at least one job type", "none");

    const constants = files.text(BUILD_TEMPLATE_SOURCE.file);
    const buildTemplatePath = constants === undefined ? undefined : pythonString(constants, BUILD_TEMPLATE_SOURCE.name).value;

    const checkout: TrussCheckout = {
        dir,
        template,
        versionTag: tag.value,
        pythonVersions: pythons.value,
        pythonVersionsSource: pythons.source,
        jobTypes,
        ...(buildTemplatePath ? { buildTemplatePath } : {}),
    };
    readers.set(checkout, files);
    return checkout;
}
