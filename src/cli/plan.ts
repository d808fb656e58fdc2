// `npm run plan -- --stack <name> [--truss <path>] [--contexts <dir>] [--json]`: the seed's
// --dry-run, from the planning code the Pulumi program uses. Reads Pulumi.<stack>.yaml itself;
// needs no Pulumi CLI, and of the registry only read access (anonymous, or the password in
// TRUSS_REGISTRY_PASSWORD).
import * as path from "path";
import { writeContext } from "../images/context";
import { planPublish } from "../publish/publishPlan";
import { CliIO, parseCommandArgs, passwordNote, processIO, readCliStack, runAsMain, withUserErrors } from "./common";
import { PlanItem, planItems, planTable, summaryLine } from "./render";
import { readParentLock } from "../images/parentLock";
import { parentWarnings } from "../publish/parentPins";
import { judgeByHistory } from "../publish/releaseHistory";
import { UserError } from "../errors";
import { contextDir } from "../images/context";

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
                     (with several platforms, one folder per platform inside it, named by that
                     platform's content digest)
  A tag without a content label (published by another tool) is a conflict for \`pulumi up\`, which
  under immutableTags stops there rather than write over content it cannot verify; with a Truss
  checkout's git history the plan also
  says whether that tag holds what the checkout defined at the commit that set its version
  ("history" in --json), as \`npm run release-check\` judges it.
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
            for (const image of plan.images) {
                // Named by the image's content digest (the one the plan shows); with several
                // platforms that digest covers them all, and each platform's context is a folder inside.
                const dir = path.join(root, image.contentDigest.slice("sha256:".length));
                if (image.platforms.length === 1) writeContext(root, image.staged);
                else for (const p of image.platforms) writeContext(dir, p.staged);
                contexts.set(image.reference, image.platforms.length === 1 ? contextDir(root, image.staged) : dir);
            }
        }
        const history = await historyOf(plan.images, stack, io);
        const items = planItems(plan.images, contexts).map((item, i): PlanItem & { history?: TagHistory } =>
            history[i] ? { ...item, history: history[i] } : item,
        );
        if (args.json) io.stdout(`${JSON.stringify(items, null, 2)}\n`);
        else {
            io.stdout(`${planTable(items)}\n\n${summaryLine(items)}\n`);
            for (const item of items) {
                if (!item.history) continue;
                io.stdout(
                    `${item.image}: no content label; by history it holds ${item.history.sameContent ? "the same content as" : "other content than"} ` +
                        `this checkout defines (the checkout at ${item.history.commit} set ${item.history.tag}).\n`,
                );
            }
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

/** What the checkout's history says a tag without a content label holds. */
interface TagHistory {
    readonly tag: string;
    readonly commit: string;
    readonly sameContent: boolean;
}

/**
 * For each conflicting tag without a content label, what the checkout's history says it holds
 * (release-check's judgement); nothing when the checkout has no readable history, said on stderr.
 */
async function historyOf(
    images: Parameters<typeof judgeByHistory>[0],
    stack: ReturnType<typeof readCliStack>,
    io: CliIO,
): Promise<(TagHistory | undefined)[]> {
    if (!stack.catalog.truss || !images.some((i) => i.action === "conflict")) return images.map(() => undefined);
    try {
        const judged = await judgeByHistory(images, stack.config, stack.catalog, stack.client);
        return judged.images.map((j) =>
            j.history && j.contentFrom === "history" ? { ...j.history, sameContent: j.action === "unchanged" } : undefined,
        );
    } catch (e) {
        // The plan stands without it: what history says is extra here.
        if (!(e instanceof UserError)) throw e;
        io.stderr(`note: ${e.message}\n`);
        return images.map(() => undefined);
    }
}

if (require.main === module) runAsMain(runPlan);
