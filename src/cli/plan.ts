// `npm run plan -- --stack <name> [--json]`: the seed's --dry-run, from the planning code the
// Pulumi program uses. Reads Pulumi.<stack>.yaml itself; needs no Pulumi CLI.
import * as path from "path";
import { parseArgs } from "util";
import { loadCatalog } from "../core/catalog";
import { parseStackConfig, SECRET_PRESENT } from "../core/config";
import { UserError } from "../core/errors";
import { planImages } from "../core/plan";
import { readStackFile } from "../core/stackFile";
import { planItems, planTable, summaryLine } from "./render";

const USAGE = "usage: npm run plan -- --stack <name> [--json]   (stacks are the Pulumi.<name>.yaml files)";

function main(argv: string[]): number {
    let args;
    try {
        args = parseArgs({
            args: argv,
            options: { stack: { type: "string", short: "s" }, json: { type: "boolean", default: false }, help: { type: "boolean", short: "h" } },
            strict: true,
        }).values;
    } catch (e) {
        process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
        return 2;
    }
    if (args.help) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }
    const projectDir = path.resolve(__dirname, "..", "..");
    const stack = args.stack ?? process.env.PULUMI_STACK ?? "dev";
    try {
        const file = readStackFile(projectDir, stack);
        const catalog = loadCatalog();
        // Planning only reads the registry (anonymously, or with TRUSS_REGISTRY_PASSWORD), so a
        // password that is not set yet does not stop it; publishing would, and the note says so.
        const passwordMissing = file.config.registryPassword === undefined;
        const config = parseStackConfig({ ...file.config, registryPassword: file.config.registryPassword ?? SECRET_PRESENT }, catalog, file.source);
        const items = planItems(planImages(config, catalog));
        if (args.json) process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
        else process.stdout.write(`${planTable(items)}\n\n${summaryLine(items)}\n`);
        if (passwordMissing && config.registry.username !== undefined) {
            process.stderr.write(
                `note: ${file.source} has no registryPassword for ${config.registry.username}; \`pulumi up\` will refuse to publish until ` +
                    `\`pulumi config set --secret registryPassword --stack ${stack}\` sets it.\n`,
            );
        }
        return 0;
    } catch (e) {
        if (e instanceof UserError) {
            process.stderr.write(`${e.message}\n`);
            return 1;
        }
        throw e;
    }
}

process.exitCode = main(process.argv.slice(2));
