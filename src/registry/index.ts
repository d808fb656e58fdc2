// The Registry HTTP API v2 client: knows nothing of Pulumi or of our images.
export * from "./advice";
export * from "./auth";
export * from "./client";
export * from "./content";
export * from "./registryError";
export * from "./manifest";
export * from "./publish";
export * from "./reference";
export * from "./tagStatus";
export * from "./imageIndex";
