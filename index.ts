// The Truss base images: read the stack config, plan every image, declare it, export what was published.
import { readStackConfig } from "./src/pulumi/config";
import { declareStack } from "./src/pulumi/stack";

const stack = declareStack(readStackConfig());

/** Full image reference -> { contentDigest, digest, action }. */
export const images = stack.output;
