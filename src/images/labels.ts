import type { Catalog } from "./catalog";
import type { ImageSpec } from "./spec";
import { repositoryName } from "./naming";

/**
 * Label names every base image carries. The registry check reads them back, so they are part
 * of the contract. The version tag is never a label: an unchanged image must be re-taggable.
 */
export const LABELS = {
    title: "org.opencontainers.image.title",
    source: "org.opencontainers.image.source",
    contentDigest: "truss.base.content-digest",
    jobType: "truss.base.job-type",
    pythonVersion: "truss.base.python-version",
    accelerator: "truss.base.accelerator",
    liveReload: "truss.base.live-reload",
} as const;

/** The build argument that carries the content digest into its label (never part of the digest). */
export const CONTENT_DIGEST_ARG = "TRUSS_BASE_CONTENT_DIGEST";

/** The labels whose values are known before the content digest is. */
export function staticLabels(spec: ImageSpec, catalog: Catalog): Record<string, string> {
    return {
        [LABELS.title]: repositoryName(spec.jobType),
        [LABELS.source]: catalog.source,
        [LABELS.jobType]: spec.jobType,
        [LABELS.pythonVersion]: spec.python,
        [LABELS.accelerator]: spec.accelerator,
        [LABELS.liveReload]: String(spec.liveReload),
    };
}
