import { trussDockerfile } from "../images/catalog";
import { comparePython } from "../images/dimensions";
import { requirementsPath, TRUSS_PATHS, TrussCheckout } from "../images/trussCheckout";
import type { ImageSpec } from "../images/spec";
import { variant } from "../images/naming";
import type { TagCommit } from "../images/trussHistory";

/** A requirement whose specifier changed: `numpy>=1.23.5,<2.0` -> `numpy>=1.26`. */
export interface ChangedRequirement {
    /** The normalized project name (PEP 503). */
    readonly name: string;
    readonly from: string;
    readonly to: string;
}

/** What changed in a requirements file, requirement by requirement. */
export interface RequirementsDiff {
    /** Whole requirement lines, as written now. */
    readonly added: readonly string[];
    /** Whole requirement lines, as written then. */
    readonly removed: readonly string[];
    readonly changed: readonly ChangedRequirement[];
    /** pip option lines (`-i ...`, `--extra-index-url ...`) added and removed. */
    readonly options: { readonly added: readonly string[]; readonly removed: readonly string[] };
}

/** One input of the base images that differs from what a tag was published from. */
export interface DefinitionChange {
    /** `template`, `requirements`, `python versions` or `control files`. */
    readonly input: "template" | "requirements" | "python versions" | "control files";
    /** The file in the checkout, `/`-separated. */
    readonly path: string;
    /** For requirements: the job type. */
    readonly jobType?: string;
    /** The tag it differs from, and the commit that set TRUSS_BASE_IMAGE_VERSION_TAG to it. */
    readonly since: { readonly tag: string; readonly commit: string };
    /** First-parent commits after that one that changed the file (short SHAs, newest first). */
    readonly commits: readonly string[];
    /** For the template: the variants (`3.11-gpu`) whose rendered Dockerfile differs. */
    readonly images?: readonly string[];
    /** For the template: rendered lines added and removed (over the variants above). */
    readonly lines?: { readonly added: readonly string[]; readonly removed: readonly string[] };
    readonly requirements?: RequirementsDiff;
    readonly pythonVersions?: { readonly added: readonly string[]; readonly removed: readonly string[] };
}

interface Requirement {
    readonly name: string;
    readonly line: string;
    /** What follows the name (extras, specifiers, markers), spaces removed: equal specs are the same requirement however the name is spelt. */
    readonly spec: string;
}

/** `numpy>=1.23.5,<2.0  # pinned` -> numpy, `numpy>=1.23.5,<2.0`; options and blank lines apart. */
function parseRequirements(text: string): { requirements: Requirement[]; options: string[] } {
    const requirements: Requirement[] = [];
    const options: string[] = [];
    for (const raw of text.replace(/\\\r?\n/g, " ").split(/\r?\n/)) {
        const line = raw
            .replace(/(^|\s)#.*$/, "")
            .replace(/\s+/g, " ")
            .trim();
        if (line === "") continue;
        if (line.startsWith("-")) {
            options.push(line);
            continue;
        }
        const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(line);
        const name = m ? m[1].toLowerCase().replace(/[-_.]+/g, "-") : line;
        requirements.push({ name, line, spec: line.slice(m ? m[1].length : line.length).replace(/\s+/g, "") });
    }
    return { requirements, options };
}

/** Requirement-level differences between two requirements files (added, removed, changed pins). */
export function requirementsDiff(before: string, after: string): RequirementsDiff {
    const a = parseRequirements(before);
    const b = parseRequirements(after);
    const was = new Map(a.requirements.map((r) => [r.name, r]));
    const now = new Map(b.requirements.map((r) => [r.name, r]));
    const changed: ChangedRequirement[] = [];
    for (const [name, r] of now) {
        const old = was.get(name);
        if (old !== undefined && old.spec !== r.spec) changed.push({ name, from: old.line, to: r.line });
    }
    return {
        added: [...now].filter(([n]) => !was.has(n)).map(([, r]) => r.line),
        removed: [...was].filter(([n]) => !now.has(n)).map(([, r]) => r.line),
        changed,
        options: { added: b.options.filter((o) => !a.options.includes(o)), removed: a.options.filter((o) => !b.options.includes(o)) },
    };
}

function lineDiff(before: string, after: string): { added: string[]; removed: string[] } {
    const a = before.split("\n").map((l) => l.trimEnd());
    const b = after.split("\n").map((l) => l.trimEnd());
    const count = (xs: string[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
    const ca = count(a);
    const cb = count(b);
    const only = (xs: string[], mine: Map<string, number>, other: Map<string, number>) =>
        [...new Set(xs)].filter((x) => x.trim() !== "" && (mine.get(x) ?? 0) > (other.get(x) ?? 0));
    return { added: only(b, cb, ca), removed: only(a, ca, cb) };
}

/**
 * Every input of the matrix's images that differs between what the checkout defined at the
 * commit that set `since.tag` (`then`) and now: the rendered template (per variant), each job
 * type's requirements, the python list, and the control files where a template copies them.
 * `commitsFor` lists the commits since then that changed a file.
 */
export async function definitionChanges(
    then: TrussCheckout,
    now: TrussCheckout,
    specs: readonly ImageSpec[],
    since: TagCommit,
    commitsFor: (rel: string) => Promise<string[]>,
    thenFiles: (rel: string) => Buffer | undefined,
    nowFiles: (rel: string) => Buffer | undefined,
): Promise<DefinitionChange[]> {
    const at = { tag: since.tag, commit: since.short };
    const out: DefinitionChange[] = [];

    const pythonsThen = new Set(then.pythonVersions);
    const pythonsNow = new Set(now.pythonVersions);
    const addedPythons = now.pythonVersions.filter((v) => !pythonsThen.has(v));
    const removedPythons = then.pythonVersions.filter((v) => !pythonsNow.has(v));
    if (addedPythons.length + removedPythons.length > 0) {
        const file = now.pythonVersionsSource.replace(/^.* in /, "");
        out.push({
            input: "python versions",
            path: file,
            since: at,
            commits: await commitsFor(file),
            pythonVersions: { added: [...addedPythons].sort(comparePython), removed: [...removedPythons].sort(comparePython) },
        });
    }

    const variants: string[] = [];
    const added = new Set<string>();
    const removed = new Set<string>();
    const seen = new Set<string>();
    for (const spec of specs) {
        const key = `${spec.jobType} ${spec.python} ${spec.accelerator}`;
        if (seen.has(key) || !pythonsThen.has(spec.python) || !then.jobTypes.has(spec.jobType)) continue;
        seen.add(key);
        const a = trussDockerfile(then, spec.jobType, spec.python, spec.accelerator);
        const b = trussDockerfile(now, spec.jobType, spec.python, spec.accelerator);
        if (a === b) continue;
        variants.push(`${spec.jobType} ${variant({ ...spec, liveReload: false })}`);
        const d = lineDiff(a, b);
        d.added.forEach((l) => added.add(l));
        d.removed.forEach((l) => removed.add(l));
    }
    if (variants.length > 0) {
        out.push({
            input: "template",
            path: TRUSS_PATHS.template,
            since: at,
            commits: await commitsFor(TRUSS_PATHS.template),
            images: variants,
            lines: { added: [...added], removed: [...removed] },
        });
    }

    for (const jobType of [...new Set(specs.map((s) => s.jobType))]) {
        const rel = requirementsPath(jobType);
        const a = thenFiles(rel);
        const b = nowFiles(rel);
        if (a === undefined || b === undefined || a.equals(b)) continue;
        out.push({
            input: "requirements",
            path: rel,
            jobType,
            since: at,
            commits: await commitsFor(rel),
            requirements: requirementsDiff(a.toString("utf8"), b.toString("utf8")),
        });
    }

    return out;
}

/** One line per change, for the text output: what differs, since which tag and commit, and the commits that changed it. */
export function describeChanges(changes: readonly DefinitionChange[]): string[] {
    const out: string[] = [];
    for (const c of changes) {
        const commits = c.commits.length > 0 ? `changed by ${c.commits.join(", ")}` : "changed in the working tree, not committed";
        out.push(
            `  ${c.path} (${c.input}${c.jobType ? ` of ${c.jobType}` : ""}) differs from ${c.since.tag} (set in ${c.since.commit}): ${commits}`,
        );
        if (c.images) out.push(`      rendered differently for ${c.images.join(", ")}`);
        for (const l of c.lines?.added ?? []) out.push(`      + ${l}`);
        for (const l of c.lines?.removed ?? []) out.push(`      - ${l}`);
        const r = c.requirements;
        if (r) {
            for (const l of r.added) out.push(`      added    ${l}`);
            for (const l of r.removed) out.push(`      removed  ${l}`);
            for (const x of r.changed) out.push(`      changed  ${x.from} -> ${x.to}`);
            for (const l of r.options.added) out.push(`      added option    ${l}`);
            for (const l of r.options.removed) out.push(`      removed option  ${l}`);
        }
        if (c.pythonVersions) {
            if (c.pythonVersions.added.length) out.push(`      python versions added: ${c.pythonVersions.added.join(", ")}`);
            if (c.pythonVersions.removed.length) out.push(`      python versions removed: ${c.pythonVersions.removed.join(", ")}`);
        }
    }
    return out;
}
