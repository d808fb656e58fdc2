// Shared helpers of the pure-core tests: temporary copies of images/, the committed stack files
// as raw config, the whole catalog as a matrix, and a way to catch one ConfigError.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ACCELERATORS } from "../../src/images/dimensions";
import { Catalog } from "../../src/images/catalog";
import { ConfigError } from "../../src/errors";
import type { ImageSpec } from "../../src/images/spec";
import type { Matrix } from "../../src/images/matrix";
import { readStackFile } from "../../src/config/stackFile";
import { SECRET_PRESENT, StackConfig } from "../../src/config/stackConfig";
import { loadStack } from "../../src/config/definition";
import { fixtureCheckout } from "./trussCheckouts";

export const PROJECT_DIR = path.resolve(__dirname, "..", "..");
export const REPO_IMAGES_DIR = path.join(PROJECT_DIR, "images");

let tempRoot: string | undefined;

/** A fresh empty folder, removed when the test process exits. */
export function tempDir(name = "t"): string {
    if (tempRoot === undefined) {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "truss-base-images-test-"));
        tempRoot = root;
        process.on("exit", () => fs.rmSync(root, { recursive: true, force: true }));
    }
    return fs.mkdtempSync(path.join(tempRoot, `${name}-`));
}

export interface CopyOptions {
    /** Mode of every copied file (default: as in the repository). */
    readonly fileMode?: number;
    /** Mode of every copied folder. */
    readonly dirMode?: number;
    /** mtime and atime of every copied file and folder. */
    readonly mtime?: Date;
}

/** Copies images/ of the repository into a new temporary folder and returns that folder. */
export function copyImages(opts: CopyOptions = {}): string {
    const dest = path.join(tempDir("images"), "images");
    fs.cpSync(REPO_IMAGES_DIR, dest, { recursive: true });
    const walk = (dir: string): void => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const p = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(p);
            else {
                if (opts.fileMode !== undefined) fs.chmodSync(p, opts.fileMode);
                if (opts.mtime) fs.utimesSync(p, opts.mtime, opts.mtime);
            }
        }
        // Folders last: their mode may forbid writing into them.
        if (opts.mtime) fs.utimesSync(dir, opts.mtime, opts.mtime);
        if (opts.dirMode !== undefined) fs.chmodSync(dir, opts.dirMode);
    };
    walk(dest);
    return dest;
}

/** Rewrites one file of a copied images folder. */
export function editFile(imagesDir: string, rel: string, edit: (text: string) => string): void {
    const file = path.join(imagesDir, rel);
    const before = fs.readFileSync(file, "utf8");
    const after = edit(before);
    assert.notStrictEqual(after, before, `the edit of ${rel} changed nothing; the test would prove nothing`);
    fs.writeFileSync(file, after);
}

/** Replaces exactly one occurrence of `from` in a file of a copied images folder. */
export function replaceOnce(imagesDir: string, rel: string, from: string, to: string): void {
    editFile(imagesDir, rel, (text) => {
        assert.strictEqual(text.split(from).length, 2, `expected exactly one ${JSON.stringify(from)} in ${rel}`);
        return text.replace(from, to);
    });
}

/**
 * A committed stack file's config, as parseStackConfig receives it. prod takes its images from a
 * Truss checkout (../truss as committed): here, the "today" fixture checkout of
 * test/support/trussCheckouts.ts.
 */
export function committedRawConfig(stack: "dev" | "prod"): Record<string, unknown> {
    const config = readStackFile(PROJECT_DIR, stack).config;
    return stack === "prod" ? { ...config, truss: { checkout: fixtureCheckout("today") } } : config;
}

/**
 * 32 images of images/ (both job types, python 3.9 to 3.12, cpu and gpu, live reload off and
 * on) for Docker Hub's baseten, built locally: tests of our own images folder use it, since
 * prod's images come from a Truss checkout.
 */
export function wholeImagesRaw(): Record<string, unknown> {
    return {
        versionTag: "v0.2.2",
        registry: { server: "docker.io", namespace: "baseten" },
        matrix: {
            jobTypes: ["server", "training"],
            pythonVersions: ["3.9", "3.10", "3.11", "3.12"],
            gpu: [false, true],
            liveReload: [false, true],
        },
        builders: { mode: "local" },
        registryPassword: SECRET_PRESENT,
    };
}

/** A committed stack (prod: on the fixture checkout), validated against its definition as the program does; the password faked. */
export function committedStack(stack: "dev" | "prod", overrides: Record<string, unknown> = {}): { config: StackConfig; catalog: Catalog } {
    return loadStack(
        { ...committedRawConfig(stack), registryPassword: SECRET_PRESENT, ...overrides },
        { projectDir: PROJECT_DIR, source: `Pulumi.${stack}.yaml` },
    );
}

/** A matrix of every image the catalog can build. */
export function fullCatalogMatrix(catalog: Catalog): Matrix {
    return {
        jobTypes: [...catalog.jobTypes.keys()],
        pythonVersions: [...catalog.pythonVersions.keys()],
        gpu: [false, true],
        liveReload: [false, true],
    };
}

/** Every image the catalog can build, in no particular order. */
export function allSpecs(catalog: Catalog): ImageSpec[] {
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

/** `server 3.9 gpu reload`: a readable key for an image in assertion messages. */
export function specKey(spec: ImageSpec): string {
    return `${spec.jobType} ${spec.python} ${spec.accelerator}${spec.liveReload ? " reload" : ""}`;
}

/** Runs `f`, which must throw a ConfigError, and returns it. */
export function configErrorOf(f: () => unknown): ConfigError {
    try {
        f();
    } catch (e) {
        if (e instanceof ConfigError) return e;
        throw new assert.AssertionError({ message: `expected a ConfigError, got ${String(e)}` });
    }
    throw new assert.AssertionError({ message: "expected a ConfigError, but the configuration was accepted" });
}
