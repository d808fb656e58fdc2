// The parents the integration tests build the catalog's images on: each CPU image on the stand-in
// of its python (standIns.ts: Debian's python, real apt and pip), the GPU images on the stub of
// nvidia/cuda (stubParents.ts: nothing can stand in for CUDA or NVIDIA's repository here). A test
// that builds a CPU image for a python without a stand-in is refused with the pythons there are.
import type { Catalog } from "../../src/images/catalog";
import { standInParents } from "./realBuilds";
import { STAND_IN_PYTHONS } from "./standIns";
import { ensureStubParents, stubParentOverrides } from "./stubParents";

/** Makes the parents (stand-ins for `pythons`, the GPU stub) and returns the stack's `parents` override for them. */
export async function testParents(catalog: Catalog, pythons: readonly string[]): Promise<Record<string, string>> {
    const missing = pythons.filter((p) => !STAND_IN_PYTHONS.includes(p));
    if (missing.length > 0) {
        throw new Error(
            `no stand-in parent for python ${missing.join(", ")}: the tests build CPU images for ${STAND_IN_PYTHONS.join(" and ")} only`,
        );
    }
    const [standIns] = await Promise.all([standInParents(pythons), ensureStubParents(catalog)]);
    return { ...stubParentOverrides(catalog), ...standIns };
}
