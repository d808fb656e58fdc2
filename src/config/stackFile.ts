import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { UserError } from "../errors";
import { CONFIG_NAMESPACE, decodeValue, SECRET_PRESENT } from "./stackConfig";

/** A stack file read without the Pulumi CLI: its config, with secrets left encrypted. */
export interface StackFile {
    /** e.g. `Pulumi.dev.yaml` */
    readonly source: string;
    /** This project's keys, without the namespace; `secure:` values are SECRET_PRESENT. */
    readonly config: Record<string, unknown>;
    /** Keys of other namespaces (e.g. `aws:region`), as written. */
    readonly other: Record<string, unknown>;
}

export const STACK_NAME = /^[A-Za-z0-9_.-]+$/;

/** Reads `<projectDir>/Pulumi.<stack>.yaml`. */
export function readStackFile(projectDir: string, stack: string): StackFile {
    if (!STACK_NAME.test(stack)) {
        throw new UserError(`Stack name ${JSON.stringify(stack)} is not valid; use letters, digits, "_", "." and "-", e.g. dev or prod.`);
    }
    const source = `Pulumi.${stack}.yaml`;
    const file = path.join(projectDir, source);
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch {
        const known = fs
            .readdirSync(projectDir)
            .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
            .filter((s): s is string => s !== undefined)
            .sort();
        throw new UserError(`No stack file ${source} in ${projectDir}; stacks here: ${known.join(", ") || "none"}.`);
    }
    let doc: unknown;
    try {
        doc = YAML.parse(text);
    } catch (e) {
        throw new UserError(`${source} is not valid YAML: ${(e as Error).message}`);
    }
    const cfg = (doc && typeof doc === "object" ? (doc as Record<string, unknown>).config : undefined) ?? {};
    if (typeof cfg !== "object" || Array.isArray(cfg)) throw new UserError(`${source}: "config" must be a map of keys to values.`);
    const config: Record<string, unknown> = {};
    const other: Record<string, unknown> = {};
    for (const [fullKey, value] of Object.entries(cfg as Record<string, unknown>)) {
        const prefix = `${CONFIG_NAMESPACE}:`;
        if (!fullKey.startsWith(prefix)) {
            other[fullKey] = value;
            continue;
        }
        const isSecure = value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).join() === "secure";
        const key = fullKey.slice(prefix.length);
        config[key] = isSecure ? SECRET_PRESENT : decodeValue(key, value);
    }
    return { source, config, other };
}
