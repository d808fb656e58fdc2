import { contextSources } from "./dockerfile";
import type { JobType } from "./dimensions";
import type { ImageSpec } from "./spec";
import { checkoutFiles, checkoutProblem, TrussCheckout, TRUSS_PATHS } from "./trussCheckout";

/** The build context Truss's script makes for an image, and the part of it the image's Dockerfile reads. */

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
        for (const from of checkoutFiles(checkout).walk(TRUSS_PATHS.control)) {
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
            throw checkoutProblem(
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

