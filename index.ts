// The Truss base images: read the stack config, ask the registry what each tag holds, declare
// what must be published, export what was.
import { readStackConfig } from "./src/pulumi/config";
import { lookUpPublishPlan } from "./src/pulumi/lookUpPlan";
import { declareStack } from "./src/pulumi/stack";

export = async () => {
    const stack = readStackConfig();
    const plan = await lookUpPublishPlan(stack);
    const declared = declareStack(stack, plan);
    /** Full image reference -> { contentDigest, digest, action, source? }. */
    return { images: declared.output };
};
