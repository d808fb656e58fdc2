import * as pep440 from "@renovatebot/pep440";

/** What an image varies by: its job type, its python version and its accelerator. */

export type Accelerator = "cpu" | "gpu";
export const ACCELERATORS: readonly Accelerator[] = ["cpu", "gpu"];

/** A python version of the catalog, e.g. "3.9". */
export type PythonVersion = string;
/** A job type of the catalog, e.g. "server". */
export type JobType = string;

/** Orders python versions as PEP 440 does: "3.9" before "3.10". */
export function comparePython(a: PythonVersion, b: PythonVersion): number {
    return pep440.compare(a, b);
}
