import { Rendered, renderTemplate, TemplateError } from "./jinja";
import type { ImageSpec } from "./spec";
import { BUILD_TEMPLATE_SOURCE, checkoutFiles, TEMPLATE_FOLDERS, TrussCheckout, TrussCheckoutError, TRUSS_PATHS } from "./trussCheckout";

/** A Truss checkout's base-image template, rendered for one image as Truss's script renders it. */

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
    const files = checkoutFiles(checkout);
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

