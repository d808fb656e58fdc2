// `npm run release-check -- --stack <name> [--truss <path>] [--json]`: the release checklist of
// a Truss change as one command. Compares the images the definition (a Truss checkout, or
// images/) makes with what the registry holds under its version tag, and prints one verdict.
// Exit codes: 0 up-to-date, 2 publish, 3 bump-needed or needless-bump, 1 bad input or registry
// error.
import { planPublish } from "../publish/publishPlan";
import { releaseVerdict } from "../publish/releaseVerdict";
import { CliIO, parseCommandArgs, passwordNote, processIO, readCliStack, runAsMain, withUserErrors } from "./common";
import { planItems, planTable } from "./render";

const USAGE = `usage: npm run release-check -- --stack <name> [--truss <path>] [--json]
  Says whether a Truss change needs new base images: compares the images of the stack's
  definition (truss.checkout, or --truss <path>, or images/) with what the stack's registry holds
  under the version tag (TRUSS_BASE_IMAGE_VERSION_TAG with a checkout).
  exit 0  up-to-date     every image of the tag is published with exactly this content
  exit 2  publish        some tags are absent, none conflicts: \`pulumi up\` builds / re-tags them
  exit 3  bump-needed    a published tag of this version holds other content: bump the version tag
  exit 3  needless-bump  the tag is new but every image is already published: keep the old tag
  exit 1  bad input or registry error
  --json prints { "verdict", "versionTag", "images": [plan items], "warnings": [...] }.`;

/** Runs the release check; returns the exit code. */
export async function runReleaseCheck(argv: string[], io: CliIO = processIO): Promise<number> {
    const parsed = parseCommandArgs(argv, {}, USAGE, io, 1);
    if ("exit" in parsed) return parsed.exit;
    const args = parsed.values;
    return withUserErrors(io, async () => {
        const stack = readCliStack(io, args.stack, args.truss);
        // The question is what the registry holds, whatever the stack's push setting.
        const plan = await planPublish({ ...stack.config, push: true }, stack.catalog, stack.client);
        const decision = releaseVerdict(plan.images, stack.config.versionTag);
        const warnings: string[] = [];
        const truss = stack.catalog.truss;
        if (truss?.packageVersion !== undefined && `v${truss.packageVersion}` !== stack.config.versionTag) {
            warnings.push(
                `pyproject.toml's version is ${truss.packageVersion} but the version tag is ${stack.config.versionTag}: when base images change, ` +
                    `the Truss release that uses them has traditionally carried the same version.`,
            );
        }
        const items = planItems(plan.images);
        if (args.json) {
            io.stdout(
                `${JSON.stringify({ verdict: decision.verdict, versionTag: stack.config.versionTag, images: items, warnings }, null, 2)}\n`,
            );
        } else {
            io.stdout(`${planTable(items)}\n\n${decision.verdict}: ${decision.explanation}\n`);
            for (const w of warnings) io.stderr(`warning: ${w}\n`);
        }
        if (stack.passwordMissing && decision.verdict === "publish") io.stderr(passwordNote(stack));
        return decision.exitCode;
    });
}

if (require.main === module) runAsMain(runReleaseCheck);
