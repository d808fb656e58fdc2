/**
 * The one reader of the Dockerfiles we stage: every question about their FROM, ARG, COPY and ADD
 * instructions is answered here, from one split into instructions (continuation lines joined,
 * comments and blank lines dropped, also inside a continuation, `\r\n` endings read as `\n`).
 * Parents are read the way the Docker builder reads them: only ARGs declared before the first
 * FROM are in scope there, a build argument overrides such an ARG's default, `scratch` and the
 * names of earlier stages are not images. Knowing nothing of where the Dockerfile came from
 * keeps this working for any Dockerfile we stage.
 */

/** One FROM instruction whose image is a registry reference. */
export interface FromLine {
    /** Index of the instruction's first line in the Dockerfile (0-based). */
    readonly line: number;
    /** The image as written, e.g. `${PARENT_IMAGE}` or `python:3.11`. */
    readonly written: string;
    /** The image after argument expansion, e.g. `python:3.11`. */
    readonly reference: string;
    /** The build argument the whole image names (`${PARENT_IMAGE}`), if it is nothing but that. */
    readonly viaArg?: string;
}

const DIRECTIVE = /^\s*([A-Za-z]+)\s+(.*)$/;

/** Logical instructions: continuation lines joined, comments and blank lines dropped. */
function instructions(dockerfile: string): { line: number; text: string }[] {
    const out: { line: number; text: string }[] = [];
    const lines = dockerfile.split("\n");
    let current: { line: number; text: string } | undefined;
    lines.forEach((raw, i) => {
        const l = raw.replace(/\r$/, "");
        if (current === undefined) {
            if (/^\s*(#|$)/.test(l)) return;
            current = { line: i, text: "" };
        } else if (/^\s*#/.test(l)) return;
        if (/\\\s*$/.test(l)) {
            current.text += l.replace(/\\\s*$/, "") + " ";
            return;
        }
        current.text += l;
        out.push(current);
        current = undefined;
    });
    if (current !== undefined) out.push(current);
    return out;
}

/** Expands `$X`, `${X}`, `${X:-default}` and `${X:+alternative}` from `vars`; unknown names become "". */
export function expandArgs(text: string, vars: Readonly<Record<string, string>>): string {
    return text.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, braced, op, word, bare) => {
        const name = (braced ?? bare) as string;
        const value = vars[name];
        if (op === "-") return value ? value : expandArgs(word as string, vars);
        if (op === "+") return value ? expandArgs(word as string, vars) : "";
        return value ?? "";
    });
}

/** Every FROM of the Dockerfile whose image is pulled from a registry, in order. */
export function fromLines(dockerfile: string, buildArgs: Readonly<Record<string, string>>): FromLine[] {
    const globals: Record<string, string> = {};
    const stages = new Set<string>();
    const out: FromLine[] = [];
    let seenFrom = false;
    for (const { line, text } of instructions(dockerfile)) {
        const m = DIRECTIVE.exec(text);
        if (!m) continue;
        const keyword = m[1].toUpperCase();
        if (keyword === "ARG" && !seenFrom) {
            for (const decl of m[2].trim().split(/\s+/)) {
                const eq = decl.indexOf("=");
                const name = eq < 0 ? decl : decl.slice(0, eq);
                const fallback = eq < 0 ? undefined : unquote(decl.slice(eq + 1));
                const value = buildArgs[name] ?? fallback;
                if (value !== undefined) globals[name] = value;
            }
        } else if (keyword === "FROM") {
            seenFrom = true;
            const words = m[2].trim().split(/\s+/).filter((w) => !w.startsWith("--"));
            const written = words[0] ?? "";
            const reference = expandArgs(written, globals);
            const earlierStage = stages.has(reference.toLowerCase());
            if (words.length >= 3 && words[1].toLowerCase() === "as") stages.add(words[2].toLowerCase());
            if (reference === "" || reference.toLowerCase() === "scratch" || earlierStage) continue;
            const arg = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$/.exec(written);
            out.push({ line, written, reference, ...(arg ? { viaArg: arg[1] ?? arg[2] } : {}) });
        }
    }
    return out;
}

function unquote(v: string): string {
    return /^(["']).*\1$/.test(v) ? v.slice(1, -1) : v;
}

/** Replaces the image of the FROM instruction that starts at `line` with `image`. */
export function rewriteFrom(dockerfile: string, line: number, written: string, image: string): string {
    const lines = dockerfile.split("\n");
    const at = lines[line].indexOf(written);
    if (at < 0) throw new Error(`line ${line + 1} of the Dockerfile does not name ${written}`);
    lines[line] = lines[line].slice(0, at) + image + lines[line].slice(at + written.length);
    return lines.join("\n");
}

/** The parent images as written in each FROM that pulls from a registry, in order (`FROM python:3.9 AS build` -> `python:3.9`). */
export function fromReferences(dockerfile: string): string[] {
    return fromLines(dockerfile, {}).map((f) => f.written);
}

/**
 * The build-context paths a Dockerfile's COPY and ADD instructions read (not `--from` copies
 * between stages), normalized: no leading `./`, no trailing `/`; `` for the whole context.
 */
export function contextSources(dockerfile: string): string[] {
    const out: string[] = [];
    for (const { text } of instructions(dockerfile)) {
        const m = DIRECTIVE.exec(text);
        if (!m) continue;
        const keyword = m[1].toUpperCase();
        if (keyword !== "COPY" && keyword !== "ADD") continue;
        const args = m[2];
        let tokens: string[];
        if (args.trimStart().startsWith("[")) {
            try {
                tokens = JSON.parse(args) as string[];
            } catch {
                tokens = args.split(/\s+/);
            }
        } else tokens = args.split(/\s+/).filter((t) => t !== "");
        const flags = tokens.filter((t) => t.startsWith("--"));
        if (flags.some((f) => f.startsWith("--from"))) continue;
        const paths = tokens.filter((t) => !t.startsWith("--"));
        for (const src of paths.slice(0, -1)) {
            if (/^[a-z]+:\/\//i.test(src)) continue;
            out.push(
                src
                    .replace(/^(\.\/)+/, "")
                    .replace(/\/+$/, "")
                    .replace(/^\.$/, ""),
            );
        }
    }
    return out;
}
