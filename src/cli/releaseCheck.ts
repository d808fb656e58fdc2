// `npm run release-check -- --stack <name> [--truss <path>] [--policy strict|advisory] [--json]`:
// the release checklist of a Truss change as one command. Compares the images the definition (a
// Truss checkout, or images/) makes with what the registry holds under its version tag (by
// content label, else by the checkout's history), and prints one verdict with what changed and
// since when. Exit codes: 0 up-to-date, 2 publish, 3 bump-needed or needless-bump, 1 bad input or
// registry error; under --policy advisory, drift exits 0.
import * as path from "path";
import { planPublish } from "../publish/publishPlan";
import { gateDecision, RELEASE_POLICIES, ReleasePolicy } from "../publish/releaseVerdict";
import { judgeByHistory, readHistory } from "../publish/releaseHistory";
import { describeChanges } from "../publish/definitionChanges";
import { TRUSS_PATHS } from "../images/trussCheckout";
import { CliIO, parseCommandArgs, passwordNote, processIO, readCliStack, runAsMain, withUserErrors } from "./common";
import { planItems, planTable } from "./render";

const USAGE = `usage: npm run release-check -- --stack <name> [--truss <path>] [--policy strict|advisory] [--json]
  Says whether a Truss change needs new base images: compares the images of the stack's
  definition (truss.checkout, or --truss <path>, or images/) with what the stack's registry holds
  under the version tag (TRUSS_BASE_IMAGE_VERSION_TAG with a checkout). A tag with a content label
  is judged by it; a tag without one (as Truss's own script published them) holds what the
  checkout defined at the commit that set TRUSS_BASE_IMAGE_VERSION_TAG to its version (git
  history, first parent: the checkout needs its full history). Every verdict says what changed,
  since which tag and commit, and which commits changed it.
  exit 0  up-to-date     every image of the tag is published with exactly this content
  exit 2  publish        some tags are absent, none conflicts: \`pulumi up\` builds / re-tags them
  exit 3  bump-needed    a published tag of this version holds other content: bump the version tag
  exit 3  needless-bump  the tag is new but every image is already published: keep the old tag
  exit 1  bad input, registry error, or a shallow checkout where history must decide
  --policy strict    (default) the codes above
  --policy advisory  drift (inputs changed under tags without a content label) is reported the
                     same way and exits 0; a content label that says otherwise still exits 3
  --json prints { "verdict", "exitCode", "policy", "drift", "explanation", "versionTag",
  "versionTagFile", "versionTagCommit", "previous", "changes", "historyNote", "images", "warnings" }.`;

/** Runs the release check; returns the exit code. */
export async function runReleaseCheck(argv: string[], io: CliIO = processIO): Promise<number> {
    const parsed = parseCommandArgs(argv, { policy: { type: "string", default: "strict" } }, USAGE, io, 1);
    if ("exit" in parsed) return parsed.exit;
    const args = parsed.values;
    if (!(RELEASE_POLICIES as readonly string[]).includes(args.policy)) {
        io.stderr(`--policy ${args.policy} is not a policy: use --policy strict (the default) or --policy advisory.\n${USAGE}\n`);
        return 1;
    }
    const policy = args.policy as ReleasePolicy;
    return withUserErrors(io, async () => {
        const stack = readCliStack(io, args.stack, args.truss);
        // The question is what the registry holds, whatever the stack's push setting.
        const config = { ...stack.config, push: true };
        // The history needs no registry: read it while the registry is asked.
        const reading = readHistory(stack.catalog, config.versionTag);
        const plan = await planPublish(config, stack.catalog, stack.client).catch(async (e: unknown) => {
            (await reading).read?.history.close();
            throw e;
        });
        const judged = await judgeByHistory(plan.images, config, stack.catalog, stack.client, reading);
        const truss = stack.catalog.truss;
        const versionTagFile = truss ? path.join(truss.dir, ...TRUSS_PATHS.versionTag.split("/")) : undefined;
        const decision = gateDecision({
            images: judged.images,
            versionTag: config.versionTag,
            versionTagFile,
            policy,
            versionTagCommit: judged.versionTagCommit,
            previous: judged.previous,
            changesSinceTag: judged.changesSinceTag,
            changesSincePrevious: judged.changesSincePrevious,
        });
        const warnings: string[] = [];
        // Without history the verdict stands (no tag needed it), but what changed cannot be listed.
        const historyNote = judged.historyNote?.split(/(?<=\))\. /)[0];
        const items = planItems(judged.images.map((image, i) => ({ ...image, ...decision.images[i] })));
        const judgedItems = items.map((item, i) => {
            const j = judged.images[i];
            return { ...item, contentFrom: j.contentFrom, ...(j.history ? { history: j.history } : {}) };
        });
        if (args.json) {
            const commit = (c: { tag: string; short: string } | null | undefined) => (c ? { tag: c.tag, commit: c.short } : null);
            io.stdout(
                `${JSON.stringify(
                    {
                        verdict: decision.verdict,
                        exitCode: decision.exitCode,
                        policy,
                        drift: decision.drift,
                        explanation: decision.explanation,
                        versionTag: config.versionTag,
                        versionTagFile: versionTagFile ?? null,
                        versionTagCommit: commit(judged.versionTagCommit),
                        previous: commit(judged.previous),
                        changes: decision.changes,
                        historyNote: historyNote ?? null,
                        images: judgedItems,
                        warnings,
                    },
                    null,
                    2,
                )}\n`,
            );
        } else {
            const details = describeChanges(decision.changes);
            io.stdout(
                `${planTable(items)}\n\n${decision.verdict}: ${decision.explanation}\n` +
                    (details.length > 0 ? `\nWhat changed:\n${details.join("\n")}\n` : ""),
            );
            for (const w of warnings) io.stderr(`warning: ${w}\n`);
            if (historyNote && decision.verdict !== "up-to-date") io.stderr(`note: what changed is not listed: ${historyNote}.\n`);
        }
        if (stack.passwordMissing && decision.verdict === "publish") io.stderr(passwordNote(stack));
        return decision.exitCode;
    });
}

if (require.main === module) runAsMain(runReleaseCheck);
