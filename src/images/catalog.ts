import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { z } from "zod";
import { CatalogError } from "../errors";
import { formatIssues } from "../validationMessages";
import type { Rendered } from "./jinja";
import { Accelerator, ACCELERATORS, comparePython, JobType, PythonVersion } from "./dimensions";
import { fromReferences } from "./dockerfile";
import type { TrussCheckout } from "./trussCheckout";
import { renderTrussTemplate } from "./trussTemplate";

/** The default images folder: the one beside src/. */
export const IMAGES_DIR = path.resolve(__dirname, "..", "..", "images");
export const CATALOG_FILE = "catalog.yaml";


export interface PythonEntry {
    readonly gpuAptPackages: readonly string[];
    readonly getPipUrl?: string;
    readonly cpuParent?: string;
}

export interface AcceleratorEntry {
    readonly dockerfile: string;
    /** Parent image reference; `{python}` stands for the python version. */
    readonly parent: string;
}

/** images/catalog.yaml, validated, with the bytes of every file it names. */
export interface Catalog {
    readonly dir: string;
    /** Our own images folder, which holds the parent lock: `dir` itself, or the folder beside a Truss checkout's catalog. */
    readonly imagesDir: string;
    readonly platform: string;
    readonly source: string;
    readonly jobTypes: ReadonlyMap<JobType, { readonly requirements: string }>;
    readonly liveReload: { readonly requirements: string };
    readonly accelerators: Readonly<Record<Accelerator, AcceleratorEntry>>;
    /** In catalog order. */
    readonly pythonVersions: ReadonlyMap<PythonVersion, PythonEntry>;
    /** Contents of the files the catalog names, by path relative to `dir`. */
    readonly files: ReadonlyMap<string, Buffer>;
    /** Set when a Truss checkout defines the images (its template renders each Dockerfile). */
    readonly truss?: TrussCheckout;
}

/** Where the catalog's python versions come from, for messages. */
export function pythonVersionsSource(catalog: Catalog): string {
    return catalog.truss ? `${catalog.truss.pythonVersionsSource} of the Truss checkout ${catalog.truss.dir}` : "images/catalog.yaml";
}

const rendered = new WeakMap<TrussCheckout, Map<string, Rendered>>();

function renderedOnce(checkout: TrussCheckout, jobType: JobType, python: PythonVersion, accelerator: Accelerator, liveReload: boolean): Rendered {
    let cache = rendered.get(checkout);
    if (!cache) rendered.set(checkout, (cache = new Map()));
    const key = `${jobType} ${python} ${accelerator} ${liveReload}`;
    let r = cache.get(key);
    if (r === undefined) {
        r = renderTrussTemplate(checkout, { jobType, python, accelerator, liveReload });
        cache.set(key, r);
    }
    return r;
}

/** The Dockerfile a Truss checkout renders for an image, rendered once per image. */
export function trussDockerfile(
    checkout: TrussCheckout,
    jobType: JobType,
    python: PythonVersion,
    accelerator: Accelerator,
    liveReload = false,
): string {
    return renderedOnce(checkout, jobType, python, accelerator, liveReload).text;
}

/**
 * Whether a Truss checkout's template builds live-reload variants: whether rendering it (and
 * what it includes) reads `live_reload` for any image, as 2023's templates did
 * (`{% if live_reload %}` around `COPY ./control`).
 */
export function trussBuildsLiveReload(checkout: TrussCheckout): boolean {
    for (const jobType of checkout.jobTypes.keys()) {
        for (const python of checkout.pythonVersions) {
            for (const accelerator of ACCELERATORS) {
                if (renderedOnce(checkout, jobType, python, accelerator, false).read.has("live_reload")) return true;
            }
        }
    }
    return false;
}

const relativeFile = z
    .string()
    .min(1)
    .refine((p) => !path.isAbsolute(p) && !p.split(/[\\/]/).includes(".."), {
        message: "must be a path inside the images folder",
    });

const catalogSchema = z.strictObject({
    platform: z.string().regex(/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/, "must look like linux/amd64"),
    source: z.string().min(1),
    jobTypes: z.record(
        z.string().regex(/^[a-z][a-z0-9-]*$/, "a job type is lower-case letters, digits and '-'"),
        z.strictObject({ requirements: relativeFile }),
    ),
    liveReload: z.strictObject({ requirements: relativeFile }),
    accelerators: z.strictObject({
        cpu: z.strictObject({ dockerfile: relativeFile, parent: z.string().min(1) }),
        gpu: z.strictObject({ dockerfile: relativeFile, parent: z.string().min(1) }),
    }),
    pythonVersions: z.record(
        z.string().regex(/^3\.\d+$/, "a python version is written like 3.9"),
        z
            .strictObject({
                gpuAptPackages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.=:~-]*$/)).optional(),
                getPipUrl: z.url().optional(),
                cpuParent: z.string().min(1).optional(),
            })
            .nullable(),
    ),
});

/**
 * Reads and validates `<dir>/catalog.yaml` and every file it names. Throws one CatalogError
 * listing every problem.
 */
export function loadCatalog(dir: string = IMAGES_DIR): Catalog {
    const file = path.join(dir, CATALOG_FILE);
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (e) {
        throw new CatalogError(`Cannot read the image catalog ${file}: ${(e as Error).message}`);
    }
    let data: unknown;
    try {
        data = YAML.parse(text);
    } catch (e) {
        throw new CatalogError(`${file} is not valid YAML: ${(e as Error).message}`);
    }
    const unquoted = unquotedPythonKeys(text);
    if (unquoted.length > 0) {
        throw new CatalogError(
            `${file}: python versions must be quoted strings, given ${unquoted.join(", ")} unquoted ` +
                `(YAML reads 3.10 as the number 3.1); write them like "3.10"`,
        );
    }
    const parsed = catalogSchema.safeParse(data);
    if (!parsed.success) {
        throw new CatalogError(
            `${file} is invalid:\n` + formatIssues(parsed.error.issues, data, catalogSchema).map((p) => `  - ${p}`).join("\n"),
        );
    }
    const c = parsed.data;
    if (Object.keys(c.jobTypes).length === 0 || Object.keys(c.pythonVersions).length === 0) {
        throw new CatalogError(`${file} must declare at least one job type and one python version`);
    }
    const files = new Map<string, Buffer>();
    const missing: string[] = [];
    const named = [
        ...Object.values(c.jobTypes).map((j) => j.requirements),
        c.liveReload.requirements,
        c.accelerators.cpu.dockerfile,
        c.accelerators.gpu.dockerfile,
    ];
    for (const rel of named) {
        const norm = rel.split(path.sep).join("/");
        if (files.has(norm)) continue;
        try {
            files.set(norm, fs.readFileSync(path.join(dir, rel)));
        } catch {
            missing.push(norm);
        }
    }
    if (missing.length > 0) {
        throw new CatalogError(`${file} names files that do not exist in ${dir}: ${missing.join(", ")}`);
    }
    return {
        dir,
        imagesDir: dir,
        platform: c.platform,
        source: c.source,
        jobTypes: new Map(Object.entries(c.jobTypes)),
        liveReload: c.liveReload,
        accelerators: c.accelerators,
        pythonVersions: new Map(
            Object.entries(c.pythonVersions)
                .sort(([a], [b]) => comparePython(a, b))
                .map(([v, e]) => [v, { gpuAptPackages: e?.gpuAptPackages ?? [], getPipUrl: e?.getPipUrl, cpuParent: e?.cpuParent }]),
        ),
        files,
    };
}

/** Keys of `pythonVersions` written as YAML numbers, as written (`3.10`, which YAML reads as 3.1). */
function unquotedPythonKeys(text: string): string[] {
    const versions = YAML.parseDocument(text).get("pythonVersions", true);
    if (!YAML.isMap(versions)) return [];
    return versions.items
        .map((item) => item.key)
        .filter((key): key is YAML.Scalar => YAML.isScalar(key) && typeof key.value === "number")
        .map((key) => (key.range ? text.slice(key.range[0], key.range[1]) : String(key.value)));
}


/**
 * The parent image reference an image of this python and accelerator starts FROM, before
 * overrides. With a Truss checkout, the first FROM of the Dockerfile its template renders (for
 * `jobType`, else the first job type).
 */
export function catalogParent(catalog: Catalog, python: PythonVersion, accelerator: Accelerator, jobType?: JobType): string {
    if (catalog.truss) {
        const jt = jobType ?? [...catalog.jobTypes.keys()][0];
        const from = fromReferences(trussDockerfile(catalog.truss, jt, python, accelerator))[0];
        if (from === undefined) {
            throw new CatalogError(
                `Truss checkout ${catalog.truss.dir}: ${catalog.accelerators[accelerator].dockerfile}: expected a FROM instruction; ` +
                    `found none in the Dockerfile rendered for ${jt} ${python} ${accelerator}.`,
            );
        }
        return from;
    }
    const entry = catalog.pythonVersions.get(python);
    const template = accelerator === "cpu" && entry?.cpuParent ? entry.cpuParent : catalog.accelerators[accelerator].parent;
    return template.split("{python}").join(python);
}

/** Every parent reference any image of the catalog can use (the keys `parents` may override). */
export function allCatalogParents(catalog: Catalog): string[] {
    const out = new Set<string>();
    const jobTypes = catalog.truss ? [...catalog.jobTypes.keys()] : [undefined];
    for (const python of catalog.pythonVersions.keys()) {
        for (const acc of ACCELERATORS) for (const jt of jobTypes) out.add(catalogParent(catalog, python, acc, jt));
    }
    return [...out].sort();
}
