import type { Catalog } from "./catalog";
import { checkoutFile, TrussCheckout, TRUSS_PATHS } from "./trussCheckout";

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
