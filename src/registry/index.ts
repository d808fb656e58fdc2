// The Registry HTTP API v2 client: knows nothing of Pulumi or of our images.
export * from "./auth";
export * from "./client";
export * from "./errors";
export * from "./manifest";
export * from "./reference";
export * from "./tags";
export * from "./imageIndex";
