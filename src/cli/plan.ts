// `npm run plan -- --stack <name> [--json]`: the seed's --dry-run, from the planning code the
// Pulumi program uses. Reads Pulumi.<stack>.yaml itself; needs no Pulumi CLI, and of the
// registry only read access (anonymous, or the password in TRUSS_REGISTRY_PASSWORD).
import * as path from "path";
import { parseArgs } from "util";
import { loadCatalog } from "../images/catalog";
import { parseStackConfig, SECRET_PRESENT } from "../config/stackConfig";
import { UserError } from "../errors";
import { planPublish, registryClientFor } from "../publish/publishPlan";
import { readStackFile } from "../config/stackFile";
import { planItems, planTable, summaryLine } from "./render";
import { readParentLock } from "../images/parentLock";
import { parentWarnings } from "../publish/parentPins";

const USAGE = `usage: npm run plan -- --stack <name> [--json]
  Prints what \`pulumi up --stack <name>\` would publish: every image with its tag, content digest,
  runner pool and action (build / retag / unchanged / conflict), from Pulumi.<name>.yaml and the
  registry. Registry reads are anonymous unless TRUSS_REGISTRY_PASSWORD holds the password of
  the stack's registry.username. Parent images are pinned as images/parents.lock says (no
  registry is asked about them); unpinned parents and a lock older than 30 days are warned about
  on stderr. Exits 1 on invalid config, registry errors, or conflicting tags under immutableTags.`;

export const PASSWORD_ENV = "TRUSS_REGISTRY_PASSWORD";

/** Where the plan CLI reads from and writes to: the real process, or a test's. */
export interface PlanIO {
    readonly projectDir: string;
    readonly env: NodeJS.ProcessEnv;
    readonly stdout: (text: string) => void;
    readonly stderr: (text: string) => void;
    /** The images folder (catalog and parent lock); the repository's by default. */
    readonly imagesDir?: string;
    /** The clock the lock's age is measured against. */
    readonly now?: () => Date;
}

const processIO: PlanIO = {
    projectDir: path.resolve(__dirname, "..", ".."),
    env: process.env,
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
};

/** Runs the plan CLI; returns the exit code. */
export async function runPlan(argv: string[], io: PlanIO = processIO): Promise<number> {
    let args;
    try {
        args = parseArgs({
            args: argv,
            options: {
                stack: { type: "string", short: "s" },
                json: { type: "boolean", default: false },
                help: { type: "boolean", short: "h" },
            },
            strict: true,
            allowPositionals: false,
        }).values;
    } catch (e) {
        io.stderr(`${(e as Error).message}\n${USAGE}\n`);
        return 2;
    }
    if (args.help) {
        io.stdout(`${USAGE}\n`);
        return 0;
    }
    const stack = args.stack ?? io.env.PULUMI_STACK ?? "dev";
    try {
        const file = readStackFile(io.projectDir, stack);
        const catalog = loadCatalog(io.imagesDir);
        // Planning only reads the registry, so a password that is not set yet does not stop it;
        // publishing would, and the note below says so.
        const passwordMissing = file.config.registryPassword === undefined;
        const config = parseStackConfig(
            { ...file.config, registryPassword: file.config.registryPassword ?? SECRET_PRESENT },
            catalog,
            file.source,
        );
        const password = io.env[PASSWORD_ENV] || undefined;
        const plan = await planPublish(config, catalog, registryClientFor(config, password));
        const items = planItems(plan.images);
        if (args.json) io.stdout(`${JSON.stringify(items, null, 2)}\n`);
        else {
            io.stdout(`${planTable(items)}\n\n${summaryLine(items)}\n`);
            if (!plan.registryConsulted)
                io.stdout(`push is false: nothing is published, so every image is built and the registry was not consulted.\n`);
        }
        // The lock is read, never refreshed: what upstream did since shows in `npm run parents -- --check`.
        for (const w of parentWarnings(plan.images, readParentLock(catalog.dir), stack, io.now?.() ?? new Date())) io.stderr(`${w}\n`);
        if (passwordMissing && config.registry.username !== undefined) {
            io.stderr(
                `note: ${file.source} has no registryPassword for ${config.registry.username}; \`pulumi up\` will refuse to publish until ` +
                    `\`pulumi config set --secret registryPassword --stack ${stack}\` sets it.\n`,
            );
        }
        if (plan.conflicts) {
            io.stderr(`${plan.conflicts.message}\n`);
            return 1;
        }
        return 0;
    } catch (e) {
        if (e instanceof UserError) {
            io.stderr(`${e.message.trimEnd()}\n`);
            return 1;
        }
        throw e;
    }
}

if (require.main === module) {
    runPlan(process.argv.slice(2)).then(
        (code) => (process.exitCode = code),
        (e) => {
            process.stderr.write(`${(e as Error).stack ?? e}\n`);
            process.exitCode = 1;
        },
    );
}
