import * as pulumi from "@pulumi/pulumi";
import { UserError } from "../errors";
import { planPublish, PROGRAM_PASSWORD_FROM, PublishPlan, registryClientFor, summaryLine } from "../publish/publishPlan";
import type { PulumiStackConfig } from "./config";
import { readParentLock } from "../images/parentLock";
import { parentWarnings } from "../publish/parentPins";

/** The plaintext of a secret Output, for the registry client's requests only (never stored or printed). */
function reveal(secret: pulumi.Output<string>): Promise<string> {
    return new Promise((resolve) => secret.apply((value) => resolve(value)));
}

/**
 * Asks the registry what each image's tag holds, before anything is declared, and logs the
 * plan's summary. Conflicting tags under immutableTags, and registry faults, stop the program
 * with one message: nothing is built, pushed or re-tagged.
 */
export async function lookUpPublishPlan(stack: PulumiStackConfig): Promise<PublishPlan> {
    try {
        // The look-up needs the password itself to authenticate; it lives only in the client.
        const password = stack.registryPassword && stack.config.push ? await reveal(stack.registryPassword) : undefined;
        const plan = await planPublish(
            stack.config,
            stack.catalog,
            registryClientFor(stack.config, password, { passwordFrom: PROGRAM_PASSWORD_FROM }),
        );
        if (plan.conflicts) throw plan.conflicts;
        void pulumi.log.info(
            plan.registryConsulted
                ? `${summaryLine(plan.images)} (from ${stack.config.registry.server})`
                : `${summaryLine(plan.images)} (push is false: build only, the registry was not consulted)`,
        );
        for (const w of parentWarnings(plan.images, readParentLock(stack.catalog.imagesDir), pulumi.getStack(), new Date())) {
            void pulumi.log.warn(w.replace(/^warning: /, ""));
        }
        return plan;
    } catch (e) {
        if (e instanceof UserError) throw new pulumi.RunError(e.message);
        throw e;
    }
}
