import type { Accelerator, JobType, PythonVersion } from "./dimensions";
import type { ImageSpec } from "./spec";

/** The `matrix` config key: which images of the catalog a stack publishes. */
export interface Matrix {
    readonly jobTypes: readonly JobType[];
    readonly pythonVersions: readonly PythonVersion[];
    readonly gpu: readonly boolean[];
    readonly liveReload: readonly boolean[];
    /** `linux/amd64`, `linux/arm64`: one image per platform under each tag; linux/amd64 alone when absent. */
    readonly platforms?: readonly string[];
}

/**
 * Every combination, in a stable order: job type, then python, then cpu before gpu, then
 * reload off before on, each in the order the config lists them.
 */
export function expandMatrix(matrix: Matrix): ImageSpec[] {
    const out: ImageSpec[] = [];
    for (const jobType of matrix.jobTypes) {
        for (const python of matrix.pythonVersions) {
            for (const gpu of matrix.gpu) {
                const accelerator: Accelerator = gpu ? "gpu" : "cpu";
                for (const liveReload of matrix.liveReload) out.push({ jobType, python, accelerator, liveReload });
            }
        }
    }
    return out;
}
