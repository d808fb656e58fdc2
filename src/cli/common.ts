// What the npm-run commands share: where they read and write, reading a stack file into a
// validated config and its image definition, the registry client, and turning a UserError into
// its message and exit code 1.
import * as fs from "fs";
import * as path from "path";
import { parseArgs, ParseArgsConfig } from "util";
import { SECRET_PRESENT, StackConfig } from "../config/stackConfig";
import { loadStack } from "../config/definition";
import { readStackFile, StackFile } from "../config/stackFile";
import type { Catalog } from "../images/catalog";
import { CLI_PASSWORD_FROM, PASSWORD_ENV, registryClientFor } from "../publish/publishPlan";
import type { RegistryClient } from "../registry";
import { UserError } from "../errors";

export { PASSWORD_ENV };

/** Where a command reads from and writes to: the real process, or a test's. */
export interface CliIO {
    readonly projectDir: string;
    readonly env: NodeJS.ProcessEnv;
    readonly stdout: (text: string) => void;
    readonly stderr: (text: string) => void;
    /** Our images folder (catalog and parent lock); the repository's by default. */
    readonly imagesDir?: string;
    /** The clock the parent lock's age is measured against. */
    readonly now?: () => Date;
}

export const processIO: CliIO = {
    projectDir: path.resolve(__dirname, "..", ".."),
    env: process.env,
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
};

/** A stack file read, its definition loaded and its config validated, ready to plan. */
export interface CliStack {
    readonly name: string;
    readonly file: StackFile;
    readonly config: StackConfig;
    readonly catalog: Catalog;
    /** The stack file has no registryPassword although registry.username is set. */
    readonly passwordMissing: boolean;
    /** Reads the stack's registry, anonymously or with TRUSS_REGISTRY_PASSWORD. */
    readonly client: RegistryClient;
}

/**
 * Reads `Pulumi.<stack>.yaml` (the stack named by --stack, which parseCommandArgs requires) and
 * its image definition (`truss.checkout`, or `trussOverride` from --truss, or images/).
 */
export function readCliStack(io: CliIO, stack: string | undefined, trussOverride?: string): CliStack {
    if (stack === undefined) throw new UserError(stackMissing(io));
    const name = stack;
    const file = readStackFile(io.projectDir, name);
    // Commands only read the registry, so a password that is not set yet does not stop them.
    const passwordMissing = file.config.registryPassword === undefined;
    const raw = { ...file.config, registryPassword: file.config.registryPassword ?? SECRET_PRESENT };
    const { config, catalog } = loadStack(raw, { projectDir: io.projectDir, source: file.source, trussOverride, imagesDir: io.imagesDir });
    const password = io.env[PASSWORD_ENV] || undefined;
    return {
        name,
        file,
        config,
        catalog,
        passwordMissing: passwordMissing && config.registry.username !== undefined,
        client: registryClientFor(config, password, { passwordFrom: CLI_PASSWORD_FROM }),
    };
}

/** The note a command prints when the stack cannot publish yet for want of its password. */
export function passwordNote(stack: CliStack): string {
    return (
        `note: ${stack.file.source} has no registryPassword for ${stack.config.registry.username}; \`pulumi up\` will refuse to publish until ` +
        `\`pulumi config set --secret registryPassword --stack ${stack.name}\` sets it.\n`
    );
}

/** Runs a command's body: a UserError prints its message and exits 1; anything else is a bug and propagates. */
export async function withUserErrors(io: CliIO, body: () => Promise<number>): Promise<number> {
    try {
        return await body();
    } catch (e) {
        if (e instanceof UserError) {
            io.stderr(`${e.message.trimEnd()}\n`);
            return 1;
        }
        throw e;
    }
}

/** The entry point of a command run by npm: its exit code, or 1 and the stack of an unexpected error. */
export function runAsMain(run: (argv: string[]) => Promise<number>): void {
    run(process.argv.slice(2)).then(
        (code) => (process.exitCode = code),
        (e) => {
            process.stderr.write(`${(e as Error).stack ?? e}\n`);
            process.exitCode = 1;
        },
    );
}

/** The options every command takes: the stack, the Truss checkout, JSON output and help. */
const COMMON_OPTIONS = {
    stack: { type: "string", short: "s" },
    truss: { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
} as const;

type CommandOptions<O extends NonNullable<ParseArgsConfig["options"]>> = ReturnType<
    typeof parseArgs<{ options: typeof COMMON_OPTIONS & O; strict: true; allowPositionals: false }>
>["values"];

/**
 * Parses a command's arguments (the common options and its own). A usage error prints the
 * message and the usage and yields `usageExit`; `--help` prints the usage and yields 0.
 */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig["options"]>>(
    argv: string[],
    own: O,
    usage: string,
    io: CliIO,
    usageExit: number,
): { values: CommandOptions<O> } | { exit: number } {
    let values: CommandOptions<O>;
    try {
        values = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...own }, strict: true, allowPositionals: false })
            .values as CommandOptions<O>;
    } catch (e) {
        io.stderr(`${(e as Error).message}\n${usage}\n`);
        return { exit: usageExit };
    }
    if ((values as { help?: boolean }).help) {
        io.stdout(`${usage}\n`);
        return { exit: 0 };
    }
    // No default stack: a command that quietly read dev while its user meant prod would answer the wrong question.
    if ((values as { stack?: string }).stack === undefined) {
        io.stderr(`${stackMissing(io)}\n${usage}\n`);
        return { exit: usageExit };
    }
    return { values };
}

/** The stacks of the project: the `<stack>` of each `Pulumi.<stack>.yaml`, sorted. */
export function stackNames(projectDir: string): string[] {
    try {
        return fs
            .readdirSync(projectDir)
            .map((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f)?.[1])
            .filter((s): s is string => s !== undefined)
            .sort();
    } catch {
        return [];
    }
}

function stackMissing(io: CliIO): string {
    const names = stackNames(io.projectDir);
    return (
        `--stack <name> is required: it names the stack file Pulumi.<name>.yaml whose registry and images the command reads. ` +
        (names.length > 0
            ? `The stacks here are ${names.join(", ")} (e.g. --stack ${names.includes("prod") ? "prod" : names[0]}).`
            : `There is no Pulumi.<name>.yaml in ${io.projectDir}.`)
    );
}
