// The parents the integration tests build the catalog's images on: each CPU image on the stand-in
// of its python (standIns.ts: Debian's python, real apt and pip), the GPU images on the stub of
// nvidia/cuda (stubParents.ts: nothing can stand in for CUDA or NVIDIA's repository here). A test
// that builds a CPU image for a python without a stand-in is refused with the pythons there are.
import type { Catalog } from "../../src/images/catalog";
import { localStandIn, STAND_IN_PYTHONS, standIn } from "./standIns";
import { ensureStubParents, stubParentOverrides } from "./stubParents";

function assertStandIns(pythons: readonly string[]): void {
    const missing = pythons.filter((p) => !STAND_IN_PYTHONS.includes(p));
    if (missing.length > 0) {
        throw new Error(
            `no stand-in parent for python ${missing.join(", ")}: the tests build CPU images for ${STAND_IN_PYTHONS.join(" and ")} only`,
        );
    }
}

/** The stack's `parents` override for `pythons` (their stand-ins) and the GPU stub, by name; ensureTestParents makes them. */
export function testParentOverrides(catalog: Catalog, pythons: readonly string[]): Record<string, string> {
    assertStandIns(pythons);
    return { ...stubParentOverrides(catalog), ...Object.fromEntries(pythons.map((p) => [`python:${p}`, localStandIn(p)])) };
}

/** Makes the stand-ins of `pythons` and the GPU stub in the local daemon. */
export async function ensureTestParents(catalog: Catalog, pythons: readonly string[]): Promise<void> {
    assertStandIns(pythons);
    // Side by side: on a fresh machine each stand-in is a debootstrap run that mostly waits on the network and the disk.
    await Promise.all([...pythons.map((p) => standIn(p)), ensureStubParents(catalog)]);
}

/** Makes the parents (stand-ins for `pythons`, the GPU stub) and returns the stack's `parents` override for them. */
export async function testParents(catalog: Catalog, pythons: readonly string[]): Promise<Record<string, string>> {
    await ensureTestParents(catalog, pythons);
    return testParentOverrides(catalog, pythons);
}
