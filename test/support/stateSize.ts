// An estimate of a stack's checkpoint size from what Pulumi's mocks record, for the size test
// and the benchmark. It is an estimate: the engine stores each custom resource's inputs and its
// outputs (for our dynamic resources the outputs are the inputs plus a few fields, provider
// included), plus its URN, type, parent, dependencies and provider reference, which we count as
// a flat 500 bytes. Component resources store little and are counted at that flat rate too.
import type { RecordedResource } from "./pulumiMocks";

/** Bytes of the flat per-resource overhead the estimate adds (URN, type, parent, dependencies, provider). */
export const RESOURCE_OVERHEAD_BYTES = 500;

export interface StateEstimate {
    readonly resources: number;
    readonly bytes: number;
    /** The serialized dynamic provider of each dynamic resource type: its largest `__provider`, in bytes. */
    readonly providerBytes: Readonly<Record<string, number>>;
}

export function estimateState(resources: readonly RecordedResource[]): StateEstimate {
    let bytes = 0;
    const providerBytes: Record<string, number> = {};
    for (const r of resources) {
        const inputs = Buffer.byteLength(JSON.stringify(r.inputs ?? {}), "utf8");
        bytes += 2 * inputs + RESOURCE_OVERHEAD_BYTES;
        const provider = r.inputs?.__provider;
        if (typeof provider === "string") {
            const size = Buffer.byteLength(provider, "utf8");
            providerBytes[r.type] = Math.max(providerBytes[r.type] ?? 0, size);
        }
    }
    return { resources: resources.length, bytes, providerBytes };
}
