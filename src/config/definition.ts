import * as fs from "fs";
import * as path from "path";
import { Catalog, loadCatalog } from "../images/catalog";
import { readTrussCheckout, TrussCheckoutError } from "../images/trussCheckout";
import { trussCatalog } from "../images/trussCatalog";
import { parseStackConfig, StackConfig } from "./stackConfig";

/** Where a stack's images are defined and how it was asked for. */
export interface DefinitionOptions {
    /** Relative `truss.checkout` paths are relative to this folder (the project's). */
    readonly projectDir: string;
    /** For messages: e.g. `Pulumi.prod.yaml`. */
    readonly source: string;
    /** `--truss <path>` of the CLIs: overrides `truss.checkout`; relative to the working directory. */
    readonly trussOverride?: string;
    /** Our own images folder (the default one beside src/ when unset). */
    readonly imagesDir?: string;
}

/** The Truss checkout a stack asks for, as an absolute path; undefined when none is asked for. */
export function trussCheckoutPath(raw: Readonly<Record<string, unknown>>, opts: DefinitionOptions): string | undefined {
    if (opts.trussOverride !== undefined) return path.resolve(opts.trussOverride);
    const truss = raw.truss;
    const checkout = truss !== null && typeof truss === "object" ? (truss as Record<string, unknown>).checkout : undefined;
    if (typeof checkout !== "string" || checkout === "") return undefined;
    return path.isAbsolute(checkout) ? checkout : path.resolve(opts.projectDir, checkout);
}

/**
 * The catalog the stack plans from: the Truss checkout's when one is configured (or given with
 * `--truss`), else images/. A checkout that is not there stops here, saying where it was looked
 * for and how to point elsewhere.
 */
export function loadDefinition(raw: Readonly<Record<string, unknown>>, opts: DefinitionOptions): Catalog {
    const images = loadCatalog(opts.imagesDir);
    const checkout = trussCheckoutPath(raw, opts);
    if (checkout === undefined) return images;
    if (!fs.existsSync(checkout)) {
        const asked =
            opts.trussOverride !== undefined
                ? `--truss ${opts.trussOverride}`
                : `truss.checkout ${JSON.stringify((raw.truss as { checkout: string }).checkout)} in ${opts.source}, relative to ${opts.projectDir}`;
        throw new TrussCheckoutError(
            `No Truss checkout at ${checkout} (from ${asked}); nothing was declared or published. ` +
                `Clone Truss there (git clone https://github.com/basetenlabs/truss ${checkout}), ` +
                `or point the stack at a checkout: \`pulumi config set --path truss.checkout <path>\` ` +
                `(relative to the project folder, or absolute), or pass --truss <path> to npm run plan and npm run release-check.`,
        );
    }
    return trussCatalog(readTrussCheckout(checkout), images);
}

/** Reads the definition and validates the stack's config against it: what every entry point does first. */
export function loadStack(raw: Readonly<Record<string, unknown>>, opts: DefinitionOptions): { config: StackConfig; catalog: Catalog } {
    const catalog = loadDefinition(raw, opts);
    return { config: parseStackConfig(raw, catalog, opts.source), catalog };
}
