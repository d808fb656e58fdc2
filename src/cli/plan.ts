// `npm run plan -- --stack <name> [--truss <path>] [--contexts <dir>] [--json]`: the seed's
// --dry-run, from the planning code the Pulumi program uses. Reads Pulumi.<stack>.yaml itself;
// needs no Pulumi CLI, and of the registry only read access (anonymous, or the password in
// TRUSS_REGISTRY_PASSWORD).
import * as path from "path";
import { writeContext } from "../images/context";
import { planPublish } from "../publish/publishPlan";
import { CliIO, parseCommandArgs, passwordNote, processIO, readCliStack, runAsMain, withUserErrors } from "./common";
import { planItems, planTable, summaryLine } from "./render";
import { readParentLock } from "../images/parentLock";
import { parentWarnings } from "../publish/parentPins";

export { PASSWORD_ENV } from "./common";

const USAGE = `usage: npm run plan -- --stack <name> [--truss <path>] [--contexts <dir>] [--json]
  Prints what \`pulumi up --stack <name>\` would publish: every image with its tag, content digest,
  runner pool and action (build / retag / unchanged / conflict), from Pulumi.<name>.yaml and the
  registry. Registry reads are anonymous unless TRUSS_REGISTRY_PASSWORD holds the password of
  the stack's registry.username. Parent images are pinned as images/parents.lock says (no
  registry is asked about them); unpinned parents and a lock older than 30 days are warned about
  on stderr.
  --truss <path>     the Truss checkout that defines the images (overrides truss.checkout)
  --contexts <dir>   also write each image's staged build context to <dir>/<content digest hex>/
  Exits 1 on invalid config, registry errors, or conflicting tags under immutableTags.`;

/** Where the plan CLI reads from and writes to. */
export type PlanIO = CliIO;

/** Runs the plan CLI; returns the exit code. */
export async function runPlan(argv: string[], io: CliIO = processIO): Promise<number> {
    const parsed = parseCommandArgs(argv, { contexts: { type: "string" } }, USAGE, io, 2);
    if ("exit" in parsed) return parsed.exit;
    const args = parsed.values;
    return withUserErrors(io, async () => {
        const stack = readCliStack(io, args.stack, args.truss);
        const plan = await planPublish(stack.config, stack.catalog, stack.client);
        const contexts = new Map<string, string>();
        if (args.contexts !== undefined) {
            const root = path.resolve(args.contexts);
            for (const image of plan.images) contexts.set(image.reference, writeContext(root, image.staged));
        }
        const items = planItems(plan.images, contexts);
        if (args.json) io.stdout(`${JSON.stringify(items, null, 2)}\n`);
        else {
            io.stdout(`${planTable(items)}\n\n${summaryLine(items)}\n`);
            if (!plan.registryConsulted)
                io.stdout(`push is false: nothing is published, so every image is built and the registry was not consulted.\n`);
            if (args.contexts !== undefined) io.stdout(`staged build contexts written under ${path.resolve(args.contexts)}\n`);
        }
        // The lock is read, never refreshed: what upstream did since shows in `npm run parents -- --check`.
        for (const w of parentWarnings(plan.images, readParentLock(stack.catalog.imagesDir), stack.name, io.now?.() ?? new Date()))
            io.stderr(`${w}\n`);
        if (stack.passwordMissing) io.stderr(passwordNote(stack));
        if (plan.conflicts) {
            io.stderr(`${plan.conflicts.message}\n`);
            return 1;
        }
        return 0;
    });
}

if (require.main === module) runAsMain(runPlan);
