import { UserError } from "../errors";

/**
 * A Jinja renderer that knows only the constructs a base-image template needs, and renders them
 * byte for byte as Python's Jinja2 does with a default `Environment()` (what Truss's own
 * base-image script uses): no autoescaping, no trim_blocks, no lstrip_blocks, every line ending
 * read as "\n" and one trailing newline of the source dropped.
 *
 * A Truss checkout is data that a pull request controls, so its template must reach nothing:
 * general Jinja engines (nunjucks, Jinja2 outside its sandbox) hand templates attribute lookups
 * and calls, which lead to constructors, the process and the environment. Here a template sees
 * strings, integers, booleans, lists and the `loop` of a for loop, and nothing with a prototype
 * or a method. Everything else (any call, any attribute other than loop's, subscripts, unknown
 * tags, filters or tests, includes outside the template folders, undefined variables) is one
 * TemplateError naming the file, the line and the construct, raised before any output.
 *
 * Known: `{{ }}` output, `{# #}` comments, `{% raw %}`, whitespace control (`-` and `+`),
 * `if`/`elif`/`else`, `for` (with `else` and `loop.index`, `index0`, `revindex`, `revindex0`,
 * `first`, `last`, `length`), `set name = ...`, `include <name>`; literals (strings, integers,
 * true/false/none, lists); `==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`, `and`, `or`,
 * `not`, `~`, `a if b else c`, parentheses; the filters `default` (`d`), `lower`, `replace`,
 * `trim`, `upper`; the tests `defined`, `undefined`, `none`.
 */

/** A template that uses something this renderer refuses, or that does not render. */
export class TemplateError extends UserError {
    constructor(
        /** The template's name, as given by the caller (e.g. a path in a checkout). */
        readonly file: string,
        readonly line: number,
        /** What is wrong, without the file and line. */
        readonly problem: string,
    ) {
        super(`${file}, line ${line}: ${problem}`);
    }
}

/** A value a template can see. */
export type TemplateValue = string | number | boolean | null | readonly TemplateValue[];

/** What an include resolves to: the template's name for messages and its text; undefined when there is none. */
export type IncludeResolver = (name: string) => { readonly file: string; readonly source: string } | undefined;

export interface RenderOptions {
    /** The template's name, for messages. */
    readonly file: string;
    readonly source: string;
    readonly variables: Readonly<Record<string, TemplateValue>>;
    /** How `{% include name %}` finds a template; without it an include is an error. */
    readonly include?: IncludeResolver;
    /** Extra words for the error about an undefined variable (e.g. where a caller would get it from). */
    readonly undefinedHint?: (name: string) => string | undefined;
}

export interface Rendered {
    readonly text: string;
    /** The given variables the rendering looked up (in the template or what it included). */
    readonly read: ReadonlySet<string>;
}

/**
 * Renders a template the way Python's Jinja2 does (see above); an undefined variable is an
 * error naming it (Jinja2 would print nothing).
 */
export function renderJinja(source: string, variables: Readonly<Record<string, unknown>>): string {
    return renderTemplate({ file: "<template>", source, variables: checkedVariables(variables, "<template>") }).text;
}

export function renderTemplate(opts: RenderOptions): Rendered {
    const root = parseTemplate(opts.file, opts.source);
    const given = new Map<string, TemplateValue>(Object.entries(checkedVariables(opts.variables, opts.file)));
    const r = new Renderer(opts, given);
    const out: string[] = [];
    r.block(root, new Scope(undefined), out, 0);
    return { text: out.join(""), read: r.read };
}

function checkedVariables(variables: Readonly<Record<string, unknown>>, file: string): Record<string, TemplateValue> {
    const ok = (v: unknown): boolean =>
        v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isSafeInteger(v)) || (Array.isArray(v) && v.every(ok));
    for (const [k, v] of Object.entries(variables)) {
        if (!ok(v)) throw new TemplateError(file, 0, `the variable ${k} is given ${Array.isArray(v) || typeof v === "object" ? "an object" : `a ${typeof v}`}, which a template cannot see`);
    }
    return variables as Record<string, TemplateValue>;
}

// ---------------------------------------------------------------------------------------------
// Lexing, as Jinja2's lexer does with the default delimiters.

/** Python's str.isspace() and re's \s for str patterns: the same set of characters. */
const WS = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WS_RUN = new RegExp(`[${WS}]*`, "y");
const IS_WS = new RegExp(`[${WS}]`);
const RAW_BEGIN = new RegExp(`\\{%(-|\\+|)[${WS}]*raw[${WS}]*(-%\\}|%\\})`, "y");
const RAW_END = new RegExp(`\\{%(-|\\+|)[${WS}]*endraw[${WS}]*(\\+%\\}|-%\\}|%\\})`, "g");

/** Python's str.rstrip(), by a backward scan (a regex anchored at the end would be quadratic). */
function rstrip(text: string): string {
    let end = text.length;
    while (end > 0 && IS_WS.test(text[end - 1])) end--;
    return text.slice(0, end);
}

interface Tok {
    readonly type: "name" | "string" | "integer" | "op";
    readonly value: string;
    readonly line: number;
}

type Piece =
    | { readonly kind: "data"; readonly text: string }
    | { readonly kind: "output"; readonly tokens: Tok[]; readonly line: number; readonly text: string }
    | { readonly kind: "tag"; readonly tokens: Tok[]; readonly line: number; readonly text: string };

const OPERATORS = ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", "=", ".", ":", ",", "|", "<", ">", ";"];
const CLOSING: Record<string, string> = { ")": "(", "]": "[", "}": "{" };

/** The line of an offset, by binary search over the offsets of the newlines. */
function lineCounter(src: string): (pos: number) => number {
    const newlines: number[] = [];
    for (let i = src.indexOf("\n"); i !== -1; i = src.indexOf("\n", i + 1)) newlines.push(i);
    return (pos) => {
        let lo = 0;
        let hi = newlines.length;
        while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (newlines[mid] < pos) lo = mid + 1;
            else hi = mid;
        }
        return lo + 1;
    };
}

// Sticky: each matches at the position it is given, without copying the rest of the source.
const FLOAT = /(?:\d+(?:_\d+)*)?\.\d|\d+(?:_\d+)*[eE]/y;
const INTEGER = /[1-9](?:_?\d)*|0(?:_?0)*/y;
const NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const STRING = /'([^'\\]*(?:\\[\s\S][^'\\]*)*)'|"([^"\\]*(?:\\[\s\S][^"\\]*)*)"/y;

function matchAt(re: RegExp, src: string, pos: number): RegExpExecArray | null {
    re.lastIndex = pos;
    return re.exec(src);
}

function lex(file: string, raw: string): Piece[] {
    const lines = raw.split(/\r\n|\r|\n/);
    if (lines[lines.length - 1] === "") lines.pop();
    const src = lines.join("\n");
    const lineAt = lineCounter(src);
    const pieces: Piece[] = [];
    let pos = 0;
    const fail = (at: number, problem: string): never => {
        throw new TemplateError(file, lineAt(at), problem);
    };
    const data = (text: string): void => {
        if (text !== "") pieces.push({ kind: "data", text });
    };
    const skipWs = (at: number): number => {
        WS_RUN.lastIndex = at;
        WS_RUN.exec(src);
        return WS_RUN.lastIndex;
    };
    while (pos < src.length) {
        let start = -1;
        for (let i = src.indexOf("{", pos); i !== -1; i = src.indexOf("{", i + 1)) {
            if (i + 1 < src.length && "{%#".includes(src[i + 1])) {
                start = i;
                break;
            }
        }
        if (start === -1) {
            data(src.slice(pos));
            break;
        }
        const kind = src[start + 1];
        let text = src.slice(pos, start);
        let inner = start + 2;
        const sign = src[inner] === "-" || src[inner] === "+" ? src[inner] : "";
        const rawMatch = kind === "%" ? matchAt(RAW_BEGIN, src, start) : null;
        if (sign === "-") text = rstrip(text);
        data(text);
        inner += sign.length;
        if (rawMatch) {
            let after = start + rawMatch[0].length;
            if (rawMatch[2] === "-%}") after = skipWs(after);
            const end = matchAt(RAW_END, src, after);
            if (!end) fail(start, "{% raw %} is not closed by {% endraw %}");
            let body = src.slice(after, end!.index);
            if (end![1] === "-") body = rstrip(body);
            data(body);
            pos = end!.index + end![0].length;
            if (end![2] === "-%}") pos = skipWs(pos);
            continue;
        }
        if (kind === "#") {
            let k = inner;
            for (; k < src.length; k++) {
                if (src.startsWith("+#}", k)) {
                    pos = k + 3;
                    break;
                }
                if (src.startsWith("-#}", k)) {
                    pos = skipWs(k + 3);
                    break;
                }
                if (src.startsWith("#}", k)) {
                    pos = k + 2;
                    break;
                }
            }
            if (k >= src.length) fail(start, "a comment {# is not closed by #}");
            continue;
        }
        const isTag = kind === "%";
        const tokens: Tok[] = [];
        const balance: string[] = [];
        let p = inner;
        for (;;) {
            if (p >= src.length) fail(start, `${isTag ? "{%" : "{{"} is not closed by ${isTag ? "%}" : "}}"}`);
            if (balance.length === 0) {
                if (isTag && src.startsWith("+%}", p)) {
                    p += 3;
                    break;
                }
                if (src.startsWith(isTag ? "-%}" : "-}}", p)) {
                    p = skipWs(p + 3);
                    break;
                }
                if (src.startsWith(isTag ? "%}" : "}}", p)) {
                    p += 2;
                    break;
                }
            }
            const line = lineAt(p);
            let m: RegExpExecArray | null;
            if ((m = matchAt(WS_RUN, src, p)) && m[0].length > 0) {
                p += m[0].length;
            } else if (matchAt(FLOAT, src, p)) {
                fail(p, `a number with a fraction or exponent (${excerpt(src.slice(p, p + 12), 12)}): only whole numbers are supported`);
            } else if ((m = matchAt(INTEGER, src, p))) {
                tokens.push({ type: "integer", value: m[0].replace(/_/g, ""), line });
                p += m[0].length;
            } else if ((m = matchAt(NAME, src, p))) {
                tokens.push({ type: "name", value: m[0], line });
                p += m[0].length;
            } else if ((m = matchAt(STRING, src, p))) {
                tokens.push({ type: "string", value: unescape(m[1] ?? m[2], (problem) => fail(p, problem)), line });
                p += m[0].length;
            } else {
                const op = OPERATORS.find((o) => src.startsWith(o, p));
                if (op === undefined) fail(p, `the character ${JSON.stringify(src[p])} is not part of any expression this renderer knows`);
                if ("([{".includes(op!)) {
                    balance.push(op!);
                    if (balance.length > MAX_NESTING) fail(p, `brackets nest deeper than ${MAX_NESTING}`);
                } else if (op! in CLOSING) {
                    if (balance.pop() !== CLOSING[op!]) fail(p, `${JSON.stringify(op)} closes nothing that was opened`);
                }
                tokens.push({ type: "op", value: op!, line });
                p += op!.length;
            }
        }
        const piece = { tokens, line: lineAt(start), text: excerpt(src.slice(start, p).trim(), 100) };
        pieces.push(isTag ? { kind: "tag", ...piece } : { kind: "output", ...piece });
        pos = p;
    }
    return pieces;
}

function excerpt(text: string, max: number): string {
    const t = text.replace(/\s+/g, " ");
    return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}

const SIMPLE_ESCAPES: Record<string, string> = { "\\": "\\", "'": "'", '"': '"', n: "\n", t: "\t", r: "\r", a: "\x07", b: "\b", f: "\f", v: "\v", "\n": "" };

/** A string literal's body as Python's "unicode-escape" codec reads it (what Jinja2 does). */
function unescape(body: string, fail: (problem: string) => never): string {
    let out = "";
    for (let i = 0; i < body.length; i++) {
        const c = body[i];
        if (c !== "\\") {
            out += c;
            continue;
        }
        const e = body[++i];
        if (e === undefined) fail("a string literal ends with a lone backslash");
        if (e in SIMPLE_ESCAPES) out += SIMPLE_ESCAPES[e];
        else if (/[0-7]/.test(e)) {
            const digits = /^[0-7]{1,3}/.exec(body.slice(i))![0];
            out += String.fromCodePoint(parseInt(digits, 8));
            i += digits.length - 1;
        } else if (e === "x" || e === "u" || e === "U") {
            const n = e === "x" ? 2 : e === "u" ? 4 : 8;
            const hex = body.slice(i + 1, i + 1 + n);
            if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) fail(`the escape \\${e}${hex} in a string literal is not ${n} hex digits`);
            const cp = parseInt(hex, 16);
            if (cp > 0x10ffff) fail(`the escape \\${e}${hex} in a string literal is not a character`);
            out += String.fromCodePoint(cp);
            i += n;
        } else if (e === "N") fail("named escapes (\\N{...}) in string literals are not supported");
        else out += `\\${e}`;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Parsing: Jinja2's grammar, restricted.

type Expr =
    | { readonly t: "const"; readonly value: TemplateValue; readonly line: number }
    | { readonly t: "name"; readonly name: string; readonly line: number }
    | { readonly t: "list"; readonly items: Expr[]; readonly line: number }
    | { readonly t: "loopattr"; readonly node: Expr; readonly attr: LoopAttr; readonly line: number }
    | { readonly t: "not"; readonly node: Expr; readonly line: number }
    | { readonly t: "and" | "or"; readonly left: Expr; readonly right: Expr; readonly line: number }
    | { readonly t: "compare"; readonly first: Expr; readonly ops: { op: string; node: Expr }[]; readonly line: number }
    | { readonly t: "concat"; readonly parts: Expr[]; readonly line: number }
    | { readonly t: "cond"; readonly test: Expr; readonly then: Expr; readonly otherwise: Expr; readonly line: number }
    | { readonly t: "filter"; readonly node: Expr; readonly name: FilterName; readonly args: Expr[]; readonly line: number }
    | { readonly t: "test"; readonly node: Expr; readonly name: TestName; readonly negated: boolean; readonly line: number };

type Node =
    | { readonly t: "data"; readonly text: string }
    | { readonly t: "output"; readonly expr: Expr; readonly line: number }
    | { readonly t: "if"; readonly branches: { test: Expr; body: Node[] }[]; readonly otherwise: Node[]; readonly line: number }
    | { readonly t: "for"; readonly target: string; readonly iter: Expr; readonly body: Node[]; readonly otherwise: Node[]; readonly line: number }
    | { readonly t: "set"; readonly target: string; readonly expr: Expr; readonly line: number }
    | { readonly t: "include"; readonly expr: Expr; readonly line: number };

const LOOP_ATTRS = ["index", "index0", "revindex", "revindex0", "first", "last", "length"] as const;
type LoopAttr = (typeof LOOP_ATTRS)[number];
const FILTERS = ["default", "d", "lower", "replace", "trim", "upper"] as const;
type FilterName = (typeof FILTERS)[number];
const TESTS = ["defined", "undefined", "none"] as const;
type TestName = (typeof TESTS)[number];
const TAGS = "if/elif/else/endif, for/else/endfor, set, include, raw/endraw";
const NOT_A_NAME = new Set(["and", "or", "not", "in", "is", "if", "else"]);
/** Names that may follow a test without being its argument (what Jinja2 checks too). */
const TEST_FOLLOWERS = new Set(["else", "or", "and", "if", "is", "in", "not"]);
const COMPARE_OPS = new Set(["==", "!=", "<", "<=", ">", ">="]);
const REACHES_NOTHING = "a Truss checkout's template is data: it reaches no attribute, method or function";

/** How deep blocks, brackets, `not`s and inline ifs may nest. */
const MAX_NESTING = 50;
/** How many times all for loops of one rendering may run their bodies together. */
const MAX_ITERATIONS = 100_000;
/** The most characters one rendering may produce. */
const MAX_OUTPUT = 16 * 1024 * 1024;

const parsed = new Map<string, Node[]>();

function parseTemplate(file: string, source: string): Node[] {
    const key = `${file}\0${source}`;
    let nodes = parsed.get(key);
    if (nodes === undefined) {
        nodes = new Parser(file, lex(file, source)).template();
        if (parsed.size > 32) parsed.clear();
        parsed.set(key, nodes);
    }
    return nodes;
}

class Parser {
    private i = 0;
    private depth = 0;

    constructor(
        private readonly file: string,
        private readonly pieces: Piece[],
    ) {}

    template(): Node[] {
        const { nodes, end } = this.body([]);
        if (end) this.fail(end.line, `{% ${end.tokens[0].value} %} closes nothing that was opened`);
        return nodes;
    }

    private fail(line: number, problem: string): never {
        throw new TemplateError(this.file, line, problem);
    }

    /** Nodes up to a tag named in `ends` (returned, consumed) or the end of the template. */
    private body(ends: readonly string[]): { nodes: Node[]; end?: Extract<Piece, { kind: "tag" }> } {
        const nodes: Node[] = [];
        while (this.i < this.pieces.length) {
            const p = this.pieces[this.i++];
            if (p.kind === "data") nodes.push({ t: "data", text: p.text });
            else if (p.kind === "output") {
                const s = new Stream(this.file, p.tokens, p.line, p.text);
                if (s.done) this.fail(p.line, `${p.text} prints nothing: an expression is expected`);
                const expr = s.expression(true);
                s.end();
                nodes.push({ t: "output", expr, line: p.line });
            } else {
                const name = p.tokens[0]?.type === "name" ? p.tokens[0].value : undefined;
                if (name === undefined) this.fail(p.line, `${p.text} is not a tag: a tag starts with its name (${TAGS})`);
                if (ends.includes(name!)) return { nodes, end: p };
                nodes.push(this.tag(name!, p));
            }
        }
        return { nodes };
    }

    private tag(name: string, p: Extract<Piece, { kind: "tag" }>): Node {
        const s = new Stream(this.file, p.tokens.slice(1), p.line, p.text);
        if ((name === "if" || name === "for") && ++this.depth > MAX_NESTING) this.fail(p.line, `blocks nest deeper than ${MAX_NESTING}`);
        switch (name) {
            case "if": {
                const branches: { test: Expr; body: Node[] }[] = [];
                let test = s.expression(false);
                s.end();
                for (;;) {
                    const { nodes, end } = this.body(["elif", "else", "endif"]);
                    branches.push({ test, body: nodes });
                    if (!end) this.fail(p.line, `${p.text} is not closed by {% endif %}`);
                    const es = new Stream(this.file, end!.tokens.slice(1), end!.line, end!.text);
                    const what = end!.tokens[0].value;
                    if (what === "elif") {
                        test = es.expression(false);
                        es.end();
                        continue;
                    }
                    es.end();
                    if (what === "endif") {
                        this.depth--;
                        return { t: "if", branches, otherwise: [], line: p.line };
                    }
                    const rest = this.body(["endif"]);
                    if (!rest.end) this.fail(p.line, `${p.text} is not closed by {% endif %}`);
                    new Stream(this.file, rest.end!.tokens.slice(1), rest.end!.line, rest.end!.text).end();
                    this.depth--;
                    return { t: "if", branches, otherwise: rest.nodes, line: p.line };
                }
            }
            case "for": {
                const target = s.targetName("for");
                if (target === "loop") this.fail(p.line, `${p.text}: "loop" is the for loop's own variable and cannot be assigned`);
                s.expectName("in");
                const iter = s.expression(false);
                if (!s.done && s.peek()?.value === "if") this.fail(p.line, `${p.text}: a filter on a for loop ("for ... if ...") is not supported; use an if inside the loop`);
                if (!s.done && s.peek()?.value === "recursive") this.fail(p.line, `${p.text}: recursive loops are not supported`);
                s.end();
                const { nodes, end } = this.body(["else", "endfor"]);
                if (!end) this.fail(p.line, `${p.text} is not closed by {% endfor %}`);
                new Stream(this.file, end!.tokens.slice(1), end!.line, end!.text).end();
                let otherwise: Node[] = [];
                if (end!.tokens[0].value === "else") {
                    const rest = this.body(["endfor"]);
                    if (!rest.end) this.fail(p.line, `${p.text} is not closed by {% endfor %}`);
                    new Stream(this.file, rest.end!.tokens.slice(1), rest.end!.line, rest.end!.text).end();
                    otherwise = rest.nodes;
                }
                this.depth--;
                return { t: "for", target, iter, body: nodes, otherwise, line: p.line };
            }
            case "set": {
                const target = s.targetName("set");
                if (s.done) this.fail(p.line, `${p.text}: a block set ({% set x %}...{% endset %}) is not supported; use {% set x = ... %}`);
                s.expectOp("=");
                const expr = s.expression(true);
                s.end();
                return { t: "set", target, expr, line: p.line };
            }
            case "include": {
                const expr = s.expression(true);
                if (!s.done) this.fail(p.line, `${p.text}: only {% include <name> %} is supported (no "ignore missing", lists or context modifiers)`);
                return { t: "include", expr, line: p.line };
            }
            case "elif":
            case "else":
            case "endif":
            case "endfor":
            case "endraw":
                return this.fail(p.line, `{% ${name} %} has no {% ${name === "endfor" ? "for" : name === "endraw" ? "raw" : "if"} %} it belongs to`);
            default:
                return this.fail(p.line, `the tag {% ${name} %} is not allowed: a Truss checkout's template is data, rendered with these tags only: ${TAGS}`);
        }
    }
}

/** The tokens of one tag or output, parsed as Jinja2's expression grammar. */
class Stream {
    private i = 0;
    private depth = 0;

    constructor(
        private readonly file: string,
        private readonly tokens: Tok[],
        private readonly line: number,
        private readonly text: string,
    ) {}

    get done(): boolean {
        return this.i >= this.tokens.length;
    }

    peek(offset = 0): Tok | undefined {
        return this.tokens[this.i + offset];
    }

    private fail(problem: string): never {
        throw new TemplateError(this.file, this.peek()?.line ?? this.line, `${this.text}: ${problem}`);
    }

    private isName(value: string, offset = 0): boolean {
        const t = this.peek(offset);
        return t?.type === "name" && t.value === value;
    }

    private isOp(value: string): boolean {
        const t = this.peek();
        return t?.type === "op" && t.value === value;
    }

    end(): void {
        if (this.isOp(",")) this.fail(`tuples ("a, b") are not supported`);
        if (!this.done) this.fail(`unexpected ${JSON.stringify(this.peek()!.value)}`);
    }

    expectName(value: string): void {
        if (!this.isName(value)) this.fail(`expected "${value}"${this.done ? " at the end" : `, found ${JSON.stringify(this.peek()!.value)}`}`);
        this.i++;
    }

    expectOp(value: string): void {
        if (!this.isOp(value)) this.fail(`expected "${value}"${this.done ? " at the end" : `, found ${JSON.stringify(this.peek()!.value)}`}`);
        this.i++;
    }

    targetName(tag: string): string {
        const t = this.peek();
        if (t?.type !== "name" || NOT_A_NAME.has(t.value) || /^(true|false|none|True|False|None)$/.test(t.value)) {
            this.fail(`{% ${tag} %} assigns to one variable name`);
        }
        this.i++;
        if (this.isOp(",")) this.fail(`{% ${tag} %} with several targets is not supported; assign one variable`);
        if (this.isOp(".") || this.isOp("[")) this.fail(`{% ${tag} %} may only assign a variable, not an attribute or item (${REACHES_NOTHING})`);
        return t!.value;
    }

    expression(withCondexpr: boolean): Expr {
        const line = this.peek()?.line ?? this.line;
        const node = this.or();
        if (withCondexpr && this.isName("if")) {
            if (++this.depth > MAX_NESTING) this.fail(`inline ifs nest deeper than ${MAX_NESTING}`);
            this.i++;
            const test = this.or();
            if (!this.isName("else")) this.fail(`an inline if needs an else ("a if b else c")`);
            this.i++;
            return { t: "cond", test, then: node, otherwise: this.expression(true), line };
        }
        return node;
    }

    private or(): Expr {
        let left = this.and();
        while (this.isName("or")) {
            const line = this.peek()!.line;
            this.i++;
            left = { t: "or", left, right: this.and(), line };
        }
        return left;
    }

    private and(): Expr {
        let left = this.not();
        while (this.isName("and")) {
            const line = this.peek()!.line;
            this.i++;
            left = { t: "and", left, right: this.not(), line };
        }
        return left;
    }

    private not(): Expr {
        if (this.isName("not")) {
            if (++this.depth > MAX_NESTING) this.fail(`"not"s nest deeper than ${MAX_NESTING}`);
            const line = this.peek()!.line;
            this.i++;
            return { t: "not", node: this.not(), line };
        }
        return this.compare();
    }

    private compare(): Expr {
        const line = this.peek()?.line ?? this.line;
        const first = this.concat();
        const ops: { op: string; node: Expr }[] = [];
        for (;;) {
            const t = this.peek();
            if (t?.type === "op" && COMPARE_OPS.has(t.value)) {
                this.i++;
                ops.push({ op: t.value, node: this.concat() });
            } else if (this.isName("in")) {
                this.i++;
                ops.push({ op: "in", node: this.concat() });
            } else if (this.isName("not") && this.isName("in", 1)) {
                this.i += 2;
                ops.push({ op: "not in", node: this.concat() });
            } else break;
        }
        return ops.length === 0 ? first : { t: "compare", first, ops, line };
    }

    private concat(): Expr {
        const line = this.peek()?.line ?? this.line;
        const parts = [this.unary()];
        while (this.isOp("~")) {
            this.i++;
            parts.push(this.unary());
        }
        return parts.length === 1 ? parts[0] : { t: "concat", parts, line };
    }

    private unary(): Expr {
        const t = this.peek();
        if (t?.type === "op" && ["+", "-", "*", "/", "//", "%", "**"].includes(t.value)) {
            this.fail(`the arithmetic operator "${t.value}" is not supported; allowed: == != < <= > >= in, not in, and, or, not, ~ and "a if b else c"`);
        }
        let node = this.postfix(this.primary());
        for (;;) {
            if (this.isOp("|")) {
                this.i++;
                node = this.filter(node);
            } else if (this.isName("is")) {
                this.i++;
                node = this.test(node);
            } else if (this.isOp("(")) {
                this.fail(`a call is not allowed (${REACHES_NOTHING})`);
            } else break;
        }
        const after = this.peek();
        if (after?.type === "op" && ["+", "-", "*", "/", "//", "%", "**"].includes(after.value)) {
            this.fail(`the arithmetic operator "${after.value}" is not supported; allowed: == != < <= > >= in, not in, and, or, not, ~ and "a if b else c"`);
        }
        return node;
    }

    private primary(): Expr {
        const t = this.peek();
        if (t === undefined) this.fail("an expression is missing at the end");
        const line = t!.line;
        if (t!.type === "string") {
            let value = "";
            while (this.peek()?.type === "string") value += this.tokens[this.i++].value;
            return { t: "const", value, line };
        }
        if (t!.type === "integer") {
            this.i++;
            const n = Number(t!.value);
            if (!Number.isSafeInteger(n)) this.fail(`the number ${t!.value} is too large`);
            return { t: "const", value: n, line };
        }
        if (t!.type === "name") {
            if (NOT_A_NAME.has(t!.value)) this.fail(`unexpected "${t!.value}"`);
            this.i++;
            if (t!.value === "true" || t!.value === "True") return { t: "const", value: true, line };
            if (t!.value === "false" || t!.value === "False") return { t: "const", value: false, line };
            if (t!.value === "none" || t!.value === "None") return { t: "const", value: null, line };
            return { t: "name", name: t!.value, line };
        }
        if (t!.value === "(") {
            this.i++;
            if (this.isOp(")")) this.fail(`tuples ("()") are not supported`);
            const node = this.expression(true);
            if (this.isOp(",")) this.fail(`tuples ("(a, b)") are not supported`);
            this.expectOp(")");
            return node;
        }
        if (t!.value === "[") {
            this.i++;
            const items: Expr[] = [];
            while (!this.isOp("]")) {
                if (items.length > 0) this.expectOp(",");
                if (this.isOp("]")) break;
                items.push(this.expression(true));
            }
            this.i++;
            return { t: "list", items, line };
        }
        if (t!.value === "{") this.fail(`dict literals are not supported`);
        return this.fail(`unexpected ${JSON.stringify(t!.value)}`);
    }

    private postfix(node: Expr): Expr {
        for (;;) {
            if (this.isOp(".")) {
                const attr = this.peek(1);
                const shown = attr ? `.${attr.value}` : ".";
                const isLoop = node.t === "name" && node.name === "loop";
                if (!isLoop || attr?.type !== "name" || !(LOOP_ATTRS as readonly string[]).includes(attr.value)) {
                    this.fail(
                        `the attribute lookup "${shown}" is not allowed (${REACHES_NOTHING}); the only attributes a template may read are loop.${LOOP_ATTRS.join(", loop.")}`,
                    );
                }
                this.i += 2;
                node = { t: "loopattr", node, attr: attr!.value as LoopAttr, line: attr!.line };
            } else if (this.isOp("[")) {
                this.fail(`the item lookup "[...]" is not allowed (${REACHES_NOTHING})`);
            } else if (this.isOp("(")) {
                this.fail(`a call is not allowed (${REACHES_NOTHING})`);
            } else return node;
        }
    }

    private filter(node: Expr): Expr {
        const t = this.peek();
        if (t?.type !== "name") this.fail(`a filter name is expected after "|"`);
        this.i++;
        if (this.isOp(".")) this.fail(`the filter "${t!.value}.${this.peek(1)?.value ?? ""}" is not allowed; filters allowed: ${FILTERS.join(", ")}`);
        if (!(FILTERS as readonly string[]).includes(t!.value)) {
            this.fail(`the filter "${t!.value}" is not allowed; filters allowed: ${FILTERS.join(", ")}`);
        }
        const args: Expr[] = [];
        if (this.isOp("(")) {
            this.i++;
            while (!this.isOp(")")) {
                if (args.length > 0) this.expectOp(",");
                if (this.isOp(")")) break;
                if (this.peek()?.type === "name" && this.peek(1)?.value === "=") this.fail(`keyword arguments of filters are not supported`);
                args.push(this.expression(true));
            }
            this.i++;
        }
        const arity: Record<FilterName, [number, number]> = { default: [0, 2], d: [0, 2], lower: [0, 0], upper: [0, 0], trim: [0, 1], replace: [2, 3] };
        const [min, max] = arity[t!.value as FilterName];
        if (args.length < min || args.length > max) this.fail(`the filter "${t!.value}" takes ${min === max ? min : `${min} to ${max}`} arguments, not ${args.length}`);
        return { t: "filter", node, name: t!.value as FilterName, args, line: t!.line };
    }

    private test(node: Expr): Expr {
        let negated = false;
        if (this.isName("not")) {
            this.i++;
            negated = true;
        }
        const t = this.peek();
        const name = t?.type === "name" ? t.value : undefined;
        if (name === undefined || !(TESTS as readonly string[]).includes(name)) {
            this.fail(`the test "is ${name ?? t?.value ?? ""}" is not allowed; tests allowed: ${TESTS.join(", ")}`);
        }
        this.i++;
        const next = this.peek();
        const argument =
            next !== undefined &&
            (next.type === "string" || next.type === "integer" || (next.type === "op" && "([{".includes(next.value)) || (next.type === "name" && !TEST_FOLLOWERS.has(next.value)));
        if (argument) this.fail(`the test "is ${name}" takes no argument`);
        return { t: "test", node, name: name as TestName, negated, line: t!.line };
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/** The `loop` of a for loop: the only value with attributes, none of them inherited. */
class Loop {
    constructor(
        readonly index0: number,
        readonly length: number,
    ) {}
    attr(a: LoopAttr): number | boolean {
        switch (a) {
            case "index":
                return this.index0 + 1;
            case "index0":
                return this.index0;
            case "revindex":
                return this.length - this.index0;
            case "revindex0":
                return this.length - this.index0 - 1;
            case "first":
                return this.index0 === 0;
            case "last":
                return this.index0 === this.length - 1;
            case "length":
                return this.length;
        }
    }
}

type Value = TemplateValue | Loop;
const UNDEFINED = Symbol("undefined");

class Scope {
    private readonly vars = new Map<string, Value>();
    constructor(readonly parent: Scope | undefined) {}
    get(name: string): Value | typeof UNDEFINED {
        if (this.vars.has(name)) return this.vars.get(name)!;
        return this.parent ? this.parent.get(name) : UNDEFINED;
    }
    set(name: string, value: Value): void {
        this.vars.set(name, value);
    }
}

const MAX_INCLUDE_DEPTH = 10;

class Renderer {
    readonly read = new Set<string>();
    private file: string;
    private iterations = 0;
    private size = 0;

    constructor(
        private readonly opts: RenderOptions,
        private readonly given: ReadonlyMap<string, TemplateValue>,
    ) {
        this.file = opts.file;
    }

    private fail(line: number, problem: string): never {
        throw new TemplateError(this.file, line, problem);
    }

    block(nodes: readonly Node[], scope: Scope, out: string[], depth: number): void {
        for (const n of nodes) {
            switch (n.t) {
                case "data":
                    out.push(n.text);
                    this.size += n.text.length;
                    break;
                case "output": {
                    const text = this.str(this.eval(n.expr, scope), n.line, "print");
                    out.push(text);
                    this.size += text.length;
                    if (this.size > MAX_OUTPUT) this.fail(n.line, `the rendering is larger than ${MAX_OUTPUT} characters`);
                    break;
                }
                case "if": {
                    const branch = n.branches.find((b) => truthy(this.eval(b.test, scope)));
                    this.block(branch ? branch.body : n.otherwise, scope, out, depth);
                    break;
                }
                case "for": {
                    const iter = this.eval(n.iter, scope);
                    let items: readonly Value[];
                    if (typeof iter === "string") items = Array.from(iter);
                    else if (Array.isArray(iter)) items = iter as readonly TemplateValue[];
                    else return this.fail(n.line, `a for loop goes over a list or a string, not ${describe(iter)}`);
                    items.forEach((item, index0) => {
                        if (++this.iterations > MAX_ITERATIONS) this.fail(n.line, `for loops run more than ${MAX_ITERATIONS} times in all`);
                        if (this.size > MAX_OUTPUT) this.fail(n.line, `the rendering is larger than ${MAX_OUTPUT} characters`);
                        const inner = new Scope(scope);
                        inner.set(n.target, item);
                        inner.set("loop", new Loop(index0, items.length));
                        this.block(n.body, inner, out, depth);
                    });
                    if (items.length === 0) this.block(n.otherwise, scope, out, depth);
                    break;
                }
                case "set":
                    scope.set(n.target, this.eval(n.expr, scope));
                    break;
                case "include":
                    this.include(n, scope, out, depth);
                    break;
            }
        }
    }

    private include(n: Extract<Node, { t: "include" }>, scope: Scope, out: string[], depth: number): void {
        const name = this.eval(n.expr, scope);
        if (typeof name !== "string") this.fail(n.line, `{% include %} takes a template name (a string), not ${describe(name)}`);
        const n2 = name as string;
        if (n2 === "" || n2.startsWith("/") || n2.includes("\\") || n2.split("/").some((seg) => seg === ".." || seg === "." || seg === "") || /[\0-\x1f]/.test(n2)) {
            this.fail(n.line, `{% include ${JSON.stringify(n2)} %} is not allowed: an included template is named by a relative path in the template folders, without "..", ".", empty parts, a leading "/" or backslashes`);
        }
        if (depth >= MAX_INCLUDE_DEPTH) this.fail(n.line, `{% include ${JSON.stringify(n2)} %} nests includes deeper than ${MAX_INCLUDE_DEPTH}`);
        if (!this.opts.include) this.fail(n.line, `{% include ${JSON.stringify(n2)} %}: this template may include nothing`);
        const found = this.opts.include!(n2);
        if (!found) this.fail(n.line, `{% include ${JSON.stringify(n2)} %}: there is no such template`);
        const nodes = parseTemplate(found!.file, found!.source);
        const outer = this.file;
        this.file = found!.file;
        try {
            this.block(nodes, new Scope(scope), out, depth + 1);
        } finally {
            this.file = outer;
        }
    }

    private lookup(node: Extract<Expr, { t: "name" }>, scope: Scope, allowUndefined: boolean): Value | typeof UNDEFINED {
        const local = scope.get(node.name);
        if (local !== UNDEFINED) return local;
        if (this.given.has(node.name)) {
            this.read.add(node.name);
            return this.given.get(node.name)!;
        }
        if (allowUndefined) return UNDEFINED;
        const hint = this.opts.undefinedHint?.(node.name);
        const known = [...this.given.keys()].join(", ");
        return this.fail(
            node.line,
            `the variable ${node.name} is not defined${hint ? ` (${hint})` : ""}; the template is rendered with ${known || "no variables"}` +
                ` (test for it with "is defined", or give it a value with "| default(...)")`,
        );
    }

    private maybe(node: Expr, scope: Scope): Value | typeof UNDEFINED {
        return node.t === "name" ? this.lookup(node, scope, true) : this.eval(node, scope);
    }

    eval(node: Expr, scope: Scope): Value {
        switch (node.t) {
            case "const":
                return node.value;
            case "name":
                return this.lookup(node, scope, false) as Value;
            case "list":
                return node.items.map((i) => {
                    const v = this.eval(i, scope);
                    if (v instanceof Loop) this.fail(i.line, "a list cannot hold a loop");
                    return v as TemplateValue;
                });
            case "loopattr": {
                const v = this.eval(node.node, scope);
                if (!(v instanceof Loop)) return this.fail(node.line, `loop.${node.attr} is read outside a for loop (loop is ${describe(v)})`);
                return v.attr(node.attr);
            }
            case "not":
                return !truthy(this.eval(node.node, scope));
            case "and": {
                const l = this.eval(node.left, scope);
                return truthy(l) ? this.eval(node.right, scope) : l;
            }
            case "or": {
                const l = this.eval(node.left, scope);
                return truthy(l) ? l : this.eval(node.right, scope);
            }
            case "cond":
                return truthy(this.eval(node.test, scope)) ? this.eval(node.then, scope) : this.eval(node.otherwise, scope);
            case "concat":
                return node.parts.map((p) => this.str(this.eval(p, scope), p.line, "join with ~")).join("");
            case "compare": {
                let left = this.eval(node.first, scope);
                for (const { op, node: rightNode } of node.ops) {
                    const right = this.eval(rightNode, scope);
                    if (!this.compare(op, left, right, node.line)) return false;
                    left = right;
                }
                return true;
            }
            case "test": {
                const v = this.maybe(node.node, scope);
                const r = node.name === "defined" ? v !== UNDEFINED : node.name === "undefined" ? v === UNDEFINED : v === null;
                return node.negated ? !r : r;
            }
            case "filter":
                return this.filter(node, scope);
        }
    }

    private filter(node: Extract<Expr, { t: "filter" }>, scope: Scope): Value {
        const args = node.args.map((a) => this.eval(a, scope));
        if (node.name === "default" || node.name === "d") {
            const v = this.maybe(node.node, scope);
            const fallback = args[0] ?? "";
            if (v === UNDEFINED || (args.length > 1 && truthy(args[1]) && !truthy(v))) return fallback;
            return v;
        }
        const s = this.str(this.eval(node.node, scope), node.line, `filter with ${node.name}`);
        const text = (v: Value, what: string): string => this.str(v, node.line, what);
        switch (node.name) {
            case "upper":
                return s.toUpperCase();
            case "lower":
                return s.toLowerCase();
            case "trim":
                return args.length === 0 || args[0] === null ? pyStrip(s, undefined) : pyStrip(s, text(args[0], "strip"));
            case "replace": {
                const count = args.length > 2 ? args[2] : null;
                if (count !== null && (typeof count !== "number" || typeof count === "boolean")) {
                    this.fail(node.line, `the count of "replace" must be a whole number, not ${describe(count)}`);
                }
                return pyReplace(s, text(args[0], "replace"), text(args[1], "replace with"), count === null ? -1 : (count as number));
            }
        }
    }

    private compare(op: string, a: Value, b: Value, line: number): boolean {
        const num = (v: Value): v is number | boolean => typeof v === "number" || typeof v === "boolean";
        switch (op) {
            case "==":
                return pyEquals(a, b);
            case "!=":
                return !pyEquals(a, b);
            case "in":
            case "not in": {
                let found: boolean;
                if (typeof b === "string") {
                    if (typeof a !== "string") return this.fail(line, `"in" a string needs a string on its left, not ${describe(a)}`);
                    found = b.includes(a);
                } else if (Array.isArray(b)) found = b.some((x) => pyEquals(a, x));
                else return this.fail(line, `"in" needs a string or a list on its right, not ${describe(b)}`);
                return op === "in" ? found : !found;
            }
            default: {
                let c: number;
                if (num(a) && num(b)) c = Number(a) - Number(b);
                else if (typeof a === "string" && typeof b === "string") c = compareCodePoints(a, b);
                else return this.fail(line, `"${op}" cannot order ${describe(a)} and ${describe(b)}`);
                return op === "<" ? c < 0 : op === "<=" ? c <= 0 : op === ">" ? c > 0 : c >= 0;
            }
        }
    }

    /** Python's str() of a value, as Jinja2 prints it. */
    private str(v: Value, line: number, what: string): string {
        if (typeof v === "string") return v;
        if (typeof v === "boolean") return v ? "True" : "False";
        if (typeof v === "number") return String(v);
        if (v === null) return "None";
        return this.fail(line, `cannot ${what} ${describe(v)}; print its items in a for loop`);
    }
}

function describe(v: Value | typeof UNDEFINED): string {
    if (v === UNDEFINED) return "an undefined value";
    if (v instanceof Loop) return "a loop";
    if (Array.isArray(v)) return "a list";
    if (v === null) return "none";
    return `the ${typeof v === "boolean" ? "boolean" : typeof v === "number" ? "number" : "string"} ${JSON.stringify(v)}`;
}

function truthy(v: Value): boolean {
    if (typeof v === "string") return v !== "";
    if (typeof v === "number") return v !== 0;
    if (typeof v === "boolean") return v;
    if (v === null) return false;
    if (Array.isArray(v)) return v.length > 0;
    return true;
}

function pyEquals(a: Value, b: Value): boolean {
    const num = (v: Value): boolean => typeof v === "number" || typeof v === "boolean";
    if (num(a) && num(b)) return Number(a) === Number(b);
    if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => pyEquals(x, b[i]));
    return a === b;
}

function compareCodePoints(a: string, b: string): number {
    const x = Array.from(a);
    const y = Array.from(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
        if (d !== 0) return d;
    }
    return x.length - y.length;
}


/** Python's str.strip(chars). */
function pyStrip(s: string, chars: string | undefined): string {
    const strip = chars === undefined ? (c: string) => IS_WS.test(c) : (c: string) => Array.from(chars).includes(c);
    const cps = Array.from(s);
    let start = 0;
    let end = cps.length;
    while (start < end && strip(cps[start])) start++;
    while (end > start && strip(cps[end - 1])) end--;
    return cps.slice(start, end).join("");
}

/** Python's str.replace(old, new, count): an empty `old` matches between every character. */
function pyReplace(s: string, old: string, replacement: string, count: number): string {
    const limit = count < 0 ? Number.POSITIVE_INFINITY : count;
    if (old === "") {
        const cps = Array.from(s);
        let out = "";
        let done = 0;
        for (let i = 0; i <= cps.length; i++) {
            if (done < limit) {
                out += replacement;
                done++;
            }
            if (i < cps.length) out += cps[i];
        }
        return out;
    }
    let out = "";
    let pos = 0;
    let done = 0;
    while (done < limit) {
        const at = s.indexOf(old, pos);
        if (at === -1) break;
        out += s.slice(pos, at) + replacement;
        pos = at + old.length;
        done++;
    }
    return out + s.slice(pos);
}
