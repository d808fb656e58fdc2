/**
 * The names of this project's dynamic-resource implementations, which each resource stores in
 * its `__implementation` input and its type token (`pulumi-nodejs:dynamic/truss-base-images:<name>`).
 * A name stays valid for as long as a stack's state may hold it: renaming one strands the
 * resources already in a state.
 */
export const IMPLEMENTATION_NAMES = [
    "RegistryTag",
    "RegistryIndex",
    "EstargzImage",
    "SmokeTest",
    "ReadinessGate",
    "WorkTicket",
    "RunnerHostKey",
    "SmokedStagingTag",
] as const;

export type ImplementationName = (typeof IMPLEMENTATION_NAMES)[number];
