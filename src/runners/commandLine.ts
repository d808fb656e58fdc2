/** Processes the runner code starts, and how they and their output are shown to an operator. */

/** A process to run: no shell in between. */
export interface CommandLine {
    readonly file: string;
    readonly args: readonly string[];
}

/** One word for a POSIX shell, quoted only when it needs to be. */
export function shellQuote(word: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line as an operator would paste it into a shell. */
export function showCommand(c: CommandLine): string {
    return [c.file, ...c.args].map(shellQuote).join(" ");
}

/** The last `n` lines of a text, without trailing blank lines. */
export function tailLines(text: string, n: number): string {
    return text.trimEnd().split("\n").slice(-n).join("\n");
}
