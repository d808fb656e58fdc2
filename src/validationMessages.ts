import { distance } from "fastest-levenshtein";
import type { z } from "zod";

/**
 * Turns zod's validation issues into the lines of one error message (the stack config and the
 * image catalog both report through it). It reads schemas only through zod's public `def`.
 */
type Issue = z.core.$ZodIssue;
type AnySchema = z.ZodType;
type Path = readonly PropertyKey[];
/** The fields of the `def`s this file walks; `def.type` says which kind a schema is. */
type WalkedDef = {
    type: string;
    innerType?: AnySchema;
    in?: AnySchema;
    discriminator?: string;
    options?: AnySchema[];
    shape?: Record<string, AnySchema>;
    element?: AnySchema;
    valueType?: AnySchema;
    values?: unknown[];
};
const defOf = (schema: AnySchema): WalkedDef => schema.def as WalkedDef;

/** `matrix.pythonVersions[1]`, with an optional prefix for the first key. */
export function formatPath(path: Path, prefix = ""): string {
    let out = "";
    for (const key of path) {
        if (typeof key === "number") out += `[${key}]`;
        else out += out === "" ? `${prefix}${String(key)}` : `.${String(key)}`;
    }
    return out === "" ? prefix.replace(/:$/, "") || "(root)" : out;
}

/** The value at `path` in `data`, or undefined. */
export function valueAt(data: unknown, path: Path): unknown {
    let cur: unknown = data;
    for (const key of path) {
        if (cur === null || typeof cur !== "object") return undefined;
        cur = (cur as Record<PropertyKey, unknown>)[key];
    }
    return cur;
}

/** A short rendering of a config value for an error message. */
export function show(value: unknown): string {
    if (value === undefined) return "nothing";
    // A private key pasted where a public one belongs must not be echoed into logs.
    if (typeof value === "string" && /PRIVATE KEY/.test(value)) return "(a private key, not shown)";
    if (typeof value === "string") return JSON.stringify(value);
    try {
        const s = JSON.stringify(value);
        return s.length > 80 ? `${s.slice(0, 77)}...` : s;
    } catch {
        return String(value);
    }
}

function typeOf(value: unknown): string {
    if (value === null) return "null";
    if (Array.isArray(value)) return "a list";
    if (typeof value === "object") return "an object";
    return `a ${typeof value}`;
}

/** The schema that validates the value at `path` (walking objects, lists, records, unions). */
function schemaAt(schema: AnySchema | undefined, path: Path, data: unknown): AnySchema | undefined {
    let cur = schema;
    let value: unknown = data;
    for (let i = 0; i <= path.length && cur;) {
        const def = defOf(cur);
        switch (def.type) {
            case "optional":
            case "nullable":
            case "default":
            case "prefault":
            case "readonly":
            case "catch":
                cur = def.innerType;
                continue;
            case "pipe":
                cur = def.in;
                continue;
            case "union": {
                const disc = def.discriminator;
                const options = def.options ?? [];
                const tag = disc && value && typeof value === "object" ? (value as Record<string, unknown>)[disc] : undefined;
                cur = options.find((o) => {
                    const lit = defOf(o).shape?.[disc ?? ""];
                    return lit !== undefined && defOf(lit).values?.includes(tag) === true;
                });
                continue;
            }
        }
        if (i === path.length) return cur;
        const key = path[i];
        if (def.type === "object") cur = def.shape?.[String(key)];
        else if (def.type === "array") cur = def.element;
        else if (def.type === "record") cur = def.valueType;
        else return undefined;
        value = value && typeof value === "object" ? (value as Record<PropertyKey, unknown>)[key] : undefined;
        i++;
    }
    return cur;
}

function objectKeys(schema: AnySchema | undefined): string[] {
    const shape = schema ? defOf(schema).shape : undefined;
    return shape ? Object.keys(shape) : [];
}

/** The allowed key a misspelt one most likely meant: the closest, if it is close enough to be a typo. */
export function suggest(given: string, allowed: readonly string[]): string | undefined {
    let best: string | undefined;
    let bestD = Infinity;
    for (const k of allowed) {
        const dd = distance(given.toLowerCase(), k.toLowerCase());
        if (dd < bestD) [best, bestD] = [k, dd];
    }
    return bestD <= Math.max(2, Math.floor(given.length / 3)) ? best : undefined;
}

/** Keys whose values no message shows: secrets. */
const NEVER_SHOWN = new Set(["registryPassword"]);

/**
 * One line per problem: `<path>: <what is wrong>, given <value>; <what is allowed>`. Custom
 * messages in the schema say what is allowed; this adds the path and the value given.
 */
export function formatIssues(issues: readonly Issue[], data: unknown, schema?: AnySchema, prefix = ""): string[] {
    const lines: string[] = [];
    for (const issue of issues) {
        if (NEVER_SHOWN.has(String(issue.path[0]))) {
            lines.push(`${formatPath(issue.path, prefix)}: ${issue.message}`);
            continue;
        }
        if (issue.code === "unrecognized_keys") {
            const allowed = objectKeys(schemaAt(schema, issue.path, data));
            for (const key of issue.keys) {
                const where = formatPath([...issue.path, key], prefix);
                const hint = suggest(key, allowed);
                lines.push(
                    `${where}: unknown key${hint ? ` (did you mean "${hint}"?)` : ""}` +
                        (allowed.length ? `; allowed keys here: ${allowed.join(", ")}` : ""),
                );
            }
            continue;
        }
        if (issue.code === "invalid_union" && "note" in issue && issue.note === "No matching discriminator") {
            const disc = (issue as { discriminator?: string }).discriminator ?? "";
            // zod 4 already ends the path with the discriminator key.
            const at = issue.path[issue.path.length - 1] === disc ? issue.path : [...issue.path, disc];
            const given = valueAt(data, at);
            lines.push(
                given === undefined
                    ? `${formatPath(at, prefix)}: required (${issue.message})`
                    : `${formatPath(at, prefix)}: ${issue.message}, given ${show(given)}`,
            );
            continue;
        }
        if (issue.code === "invalid_key") {
            const key = issue.path[issue.path.length - 1];
            lines.push(
                `${formatPath(issue.path, prefix)}: ${issue.issues.map((i) => i.message).join("; ")}, given the key ${show(String(key))}`,
            );
            continue;
        }
        const where = formatPath(issue.path, prefix);
        const given = valueAt(data, issue.path);
        if (issue.code === "invalid_type") {
            const message = issue.message.startsWith("Invalid input") ? `expected ${issue.expected}` : issue.message;
            lines.push(
                given === undefined ? `${where}: required (${message})` : `${where}: ${message}, given ${typeOf(given)} ${show(given)}`,
            );
            continue;
        }
        lines.push(given === undefined ? `${where}: ${issue.message}` : `${where}: ${issue.message}, given ${show(given)}`);
    }
    return lines;
}
