import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { UserError } from "../errors";
import { PYTHON_VERSION_SOURCES, readTrussCheckout, TRUSS_PATHS, TrussCheckout, TrussCheckoutError } from "./trussCheckout";

/**
 * The git history of a Truss checkout, read as data: what the checkout defined at an earlier
 * commit, which commit set `TRUSS_BASE_IMAGE_VERSION_TAG` to a value, and which commits changed a
 * file since. Docker Hub's tags were published by Truss's own script and carry no content label,
 * so for them the history is the only account of what a tag holds.
 *
 * The checkout is what a pull request controls, so git runs here with nothing of the
 * repository's own configuration that could start a program: no hooks, no fsmonitor, no external
 * diff or textconv drivers, no signature verification, no pager; an environment holding only
 * PATH and settings that keep the system's and the user's git configuration out; through
 * execFile, never a shell. Files read from history obey the size limit below, and only regular
 * files are read (a symlink or a submodule in a commit is an error naming it).
 */

/** The largest file of a checkout's history that is read (the files that define base images are a few KB). */
export const MAX_HISTORY_FILE_BYTES = 1024 * 1024;

const VERSION_TAG_NAME = "TRUSS_BASE_IMAGE_VERSION_TAG";

/**
 * Every path of a checkout that defines the base images, as GitHub Actions `paths` globs: the
 * template, the file holding the version tag, every place the python list has lived, each job
 * type's requirements and the control folder (copied by templates that build live-reload images).
 * A CI workflow that gates base images must run on a change to any of them.
 */
export const DEFINITION_PATHS: readonly string[] = [
    TRUSS_PATHS.template,
    TRUSS_PATHS.versionTag,
    ...PYTHON_VERSION_SOURCES.map((s) => s.file),
    `${TRUSS_PATHS.templates}/*/requirements.txt`,
    `${TRUSS_PATHS.control}/**`,
];

/** Whether a checkout path is one of DEFINITION_PATHS. */
export function definesBaseImages(rel: string): boolean {
    return DEFINITION_PATHS.some((glob) => {
        const re = glob
            .replace(/[.+^${}()|[\]\\]/g, "\\$&")
            .replace(/\*\*/g, "\u0000")
            .replace(/\*/g, "[^/]*")
            .replace(/\u0000/g, ".*");
        return new RegExp(`^${re}$`).test(rel);
    });
}

/** The history cannot answer: a shallow clone, or no git repository at all. */
export class HistoryUnavailableError extends UserError {}

/** A commit of the checkout's history that set the version tag to a value. */
export interface TagCommit {
    readonly tag: string;
    /** Full SHA. */
    readonly commit: string;
    /** 12 hex digits, as messages and JSON show it. */
    readonly short: string;
}

export const shortSha = (sha: string): string => sha.slice(0, 12);

const GIT_CONFIG = [
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.pager=cat",
    "-c",
    "log.showSignature=false",
    "-c",
    "diff.external=",
    "-c",
    "core.untrackedCache=false",
    "-c",
    "protocol.allow=never",
    // Settings a repository could set that would change what the log answers.
    "-c",
    "log.showRoot=true",
    "-c",
    "log.follow=false",
];

function gitEnv(): NodeJS.ProcessEnv {
    return {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_TERMINAL_PROMPT: "0",
        GIT_OPTIONAL_LOCKS: "0",
        GIT_NO_REPLACE_OBJECTS: "1",
        HOME: os.tmpdir(),
        LC_ALL: "C",
    };
}

/** Runs git in the checkout: stdout, or the error (exit code, stderr) for the caller to word. */
function git(dir: string, args: readonly string[], input?: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const child = execFile(
            "git",
            [...GIT_CONFIG, "-C", dir, ...args],
            { env: gitEnv(), encoding: "buffer", maxBuffer: 64 * 1024 * 1024, windowsHide: true },
            (error, stdout, stderr) => {
                if (error) {
                    const text = Buffer.isBuffer(stderr) ? stderr.toString("utf8") : String(stderr);
                    reject(Object.assign(error, { stderrText: text.trim() }));
                } else resolve(stdout as Buffer);
            },
        );
        if (input !== undefined) child.stdin?.end(input);
    });
}

async function gitText(dir: string, args: readonly string[]): Promise<string> {
    return (await git(dir, args)).toString("utf8");
}

/** One file of a commit's tree. */
interface TreeEntry {
    readonly mode: string;
    readonly type: string;
    readonly object: string;
    readonly size: number;
    readonly path: string;
}

/** The history of one checkout, read lazily and cached for one command. */
export class TrussHistory {
    private tagLog?: Promise<{ commit: string; tag: string | undefined }[]>;
    private readonly checkouts = new Map<string, Promise<TrussCheckout | undefined>>();
    private readonly tempDirs: string[] = [];

    private constructor(
        /** The checkout as given. */
        readonly dir: string,
        /** The checkout's folder relative to the repository's top, `` or `sub/dir/`. */
        private readonly prefix: string,
        /** HEAD's full SHA. */
        readonly head: string,
    ) {}

    /**
     * Opens the history of the checkout at `dir`. Throws HistoryUnavailableError, saying what to
     * do, when it is a shallow clone or no git repository, or git is missing.
     */
    static async open(dir: string): Promise<TrussHistory> {
        let out: string;
        try {
            // No process is started for a folder that no repository holds (a copy, a test fixture).
            if (!insideRepository(dir)) throw Object.assign(new Error("no .git in it or any folder above"), { stderrText: "no .git in it or any folder above" });
            out = await gitText(dir, ["rev-parse", "--is-shallow-repository", "--show-prefix", "HEAD"]);
        } catch (e) {
            const err = e as NodeJS.ErrnoException & { stderrText?: string };
            const why = err.code === "ENOENT" ? "git is not installed here" : (err.stderrText ?? err.message).split("\n")[0];
            throw new HistoryUnavailableError(
                `The Truss checkout ${dir} has no git history to read (${why}). ` +
                    `Tags published without a content label (as Truss's own script published Docker Hub's) are judged by the commit that set ` +
                    `${VERSION_TAG_NAME} to their value: use a git clone with its full history (in GitHub Actions, actions/checkout with fetch-depth: 0).`,
            );
        }
        const [shallow, prefix, head] = out.split("\n");
        if (shallow.trim() === "true") {
            throw new HistoryUnavailableError(
                `The Truss checkout ${dir} is a shallow clone: its history stops at ${shortSha(head.trim())}, so the commit that set ` +
                    `${VERSION_TAG_NAME} to the value of a tag published without a content label cannot be found, and nothing is guessed. ` +
                    `Fetch the full history: in GitHub Actions, actions/checkout with fetch-depth: 0; by hand, git -C ${dir} fetch --unshallow.`,
            );
        }
        return new TrussHistory(dir, prefix.trim(), head.trim());
    }

    /** Removes what was written to read commits' checkouts. */
    close(): void {
        for (const d of this.tempDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
    }

    private repoPath(rel: string): string {
        return `${this.prefix}${rel}`;
    }

    /** `git log --first-parent --format=%H` of `range` for one file of the checkout: full SHAs, newest first. */
    private firstParentLog(range: readonly string[], rel: string): Promise<string> {
        return gitText(this.dir, ["log", "--first-parent", "--no-ext-diff", "--no-textconv", "--format=%H", ...range, "--", this.repoPath(rel)]);
    }

    /** First-parent commits, newest first, that touched the version tag's line, each with the tag it left. */
    private versionTagLog(): Promise<{ commit: string; tag: string | undefined }[]> {
        this.tagLog ??= (async () => {
            const out = await this.firstParentLog([`-G${VERSION_TAG_NAME}`, "HEAD"], TRUSS_PATHS.versionTag);
            const commits = out.split("\n").filter((l) => /^[0-9a-f]{40}$/.test(l));
            const texts = await this.readBlobs(commits.map((c) => `${c}:${this.repoPath(TRUSS_PATHS.versionTag)}`));
            return commits.map((commit, i) => ({ commit, tag: texts[i] === undefined ? undefined : versionTagOf(texts[i] as string) }));
        })();
        return this.tagLog;
    }

    /**
     * The commit that set the version tag to `tag`, most recently in HEAD's first-parent history,
     * and the tag it replaced with the commit that had set that one. Undefined when HEAD's history
     * never set it (a working tree that changed it without a commit).
     */
    async tagCommit(tag: string): Promise<{ set: TagCommit; previous?: TagCommit } | undefined> {
        const log = await this.versionTagLog();
        let i = log.findIndex((e) => e.tag === tag);
        if (i < 0) return undefined;
        while (i + 1 < log.length && log[i + 1].tag === tag) i++;
        const set = { tag, commit: log[i].commit, short: shortSha(log[i].commit) };
        let j = i + 1;
        while (j < log.length && log[j].tag === undefined) j++;
        if (j >= log.length) return { set };
        const prevTag = log[j].tag as string;
        while (j + 1 < log.length && log[j + 1].tag === prevTag) j++;
        return { set, previous: { tag: prevTag, commit: log[j].commit, short: shortSha(log[j].commit) } };
    }

    /** The version tag HEAD's commit holds (undefined when HEAD has none). */
    async headTag(): Promise<string | undefined> {
        const [text] = await this.readBlobs([`${this.head}:${this.repoPath(TRUSS_PATHS.versionTag)}`]);
        return text === undefined ? undefined : versionTagOf(text);
    }

    /** Short SHAs of the first-parent commits after `since` up to HEAD that changed `rel`, newest first. */
    async commitsChanging(since: string, rel: string): Promise<string[]> {
        const out = await this.firstParentLog([`${since}..HEAD`], rel);
        return out
            .split("\n")
            .filter((l) => /^[0-9a-f]{40}$/.test(l))
            .map(shortSha);
    }

    /**
     * What the checkout defined at `commit`, read as the checkout reader reads a working tree:
     * the files that define base images are copied out of the commit into a temporary folder
     * (regular files only, within the size limit) and read from there. Undefined when the commit
     * has no template (not yet a Truss layout this program reads).
     */
    checkoutAt(commit: string): Promise<TrussCheckout | undefined> {
        let p = this.checkouts.get(commit);
        if (!p) {
            p = this.materialize(commit);
            this.checkouts.set(commit, p);
        }
        return p;
    }

    private async materialize(commit: string): Promise<TrussCheckout | undefined> {
        const listed = await gitText(this.dir, [
            "ls-tree",
            "-r",
            "-l",
            "--full-tree",
            "-z",
            commit,
            "--",
            ...[TRUSS_PATHS.template, TRUSS_PATHS.versionTag, ...PYTHON_VERSION_SOURCES.map((s) => s.file), TRUSS_PATHS.templates].map((p) =>
                this.repoPath(p),
            ),
        ]);
        const entries: TreeEntry[] = [];
        for (const record of listed.split("\0")) {
            const m = /^(\d+) (\w+) ([0-9a-f]+)\s+(-|\d+)\t(.*)$/s.exec(record);
            if (!m) continue;
            const rel = m[5].slice(this.prefix.length);
            if (!definesBaseImages(rel)) continue;
            entries.push({ mode: m[1], type: m[2], object: m[3], size: m[4] === "-" ? 0 : Number(m[4]), path: rel });
        }
        if (!entries.some((e) => e.path === TRUSS_PATHS.template)) return undefined;
        const where = `${this.dir} at commit ${shortSha(commit)}`;
        for (const e of entries) {
            if (e.type !== "blob" || (e.mode !== "100644" && e.mode !== "100755")) {
                const what = e.mode === "120000" ? "a symbolic link" : e.type === "commit" ? "a submodule" : `a ${e.type} of mode ${e.mode}`;
                throw new TrussCheckoutError(
                    `Truss checkout ${where}: ${e.path} is ${what}; only regular files are read from a checkout. Nothing was declared or published.`,
                );
            }
            if (e.size > MAX_HISTORY_FILE_BYTES) {
                throw new TrussCheckoutError(
                    `Truss checkout ${where}: ${e.path} is ${e.size} bytes, more than the ${MAX_HISTORY_FILE_BYTES} bytes a file that defines base images may have. Nothing was declared or published.`,
                );
            }
        }
        const contents = await this.readObjects(entries.map((e) => e.object));
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "truss-history-"));
        this.tempDirs.push(root);
        const dir = path.join(root, shortSha(commit));
        entries.forEach((e, i) => {
            const file = path.join(dir, ...e.path.split("/"));
            fs.mkdirSync(path.dirname(file), { recursive: true });
            fs.writeFileSync(file, contents[i] as Buffer);
        });
        try {
            return { ...readTrussCheckout(dir), dir };
        } catch (e) {
            if (e instanceof TrussCheckoutError) throw new TrussCheckoutError(e.message.split(dir).join(where));
            throw e;
        }
    }

    /** Texts of `<commit>:<path>` objects (undefined where absent), in one git process. */
    private async readBlobs(specs: readonly string[]): Promise<(string | undefined)[]> {
        return (await this.readObjects(specs)).map((b) => b?.toString("utf8"));
    }

    /** Objects by name through `git cat-file --batch`; undefined for a missing one or one over the size limit. */
    private async readObjects(names: readonly string[]): Promise<(Buffer | undefined)[]> {
        if (names.length === 0) return [];
        for (const n of names) if (/[\n\r]/.test(n)) throw new Error(`object name with a line break: ${JSON.stringify(n)}`);
        const out = await git(this.dir, ["cat-file", "--batch"], names.join("\n") + "\n");
        const result: (Buffer | undefined)[] = [];
        let at = 0;
        for (let i = 0; i < names.length; i++) {
            const eol = out.indexOf(0x0a, at);
            const header = out.subarray(at, eol).toString("utf8");
            at = eol + 1;
            const m = /^[0-9a-f]+ (\w+) (\d+)$/.exec(header);
            if (!m) {
                result.push(undefined);
                continue;
            }
            const size = Number(m[2]);
            result.push(m[1] === "blob" && size <= MAX_HISTORY_FILE_BYTES ? Buffer.from(out.subarray(at, at + size)) : undefined);
            at += size + 1;
        }
        return result;
    }
}

/** Whether `dir` or a folder above it has a `.git` (a repository's folder, or the file of a worktree or submodule). */
function insideRepository(dir: string): boolean {
    for (let d = path.resolve(dir); ; d = path.dirname(d)) {
        if (fs.existsSync(path.join(d, ".git"))) return true;
        if (path.dirname(d) === d) return false;
    }
}

/** TRUSS_BASE_IMAGE_VERSION_TAG's string value in util.py's text, or undefined. */
export function versionTagOf(text: string): string | undefined {
    const m = new RegExp(`^${VERSION_TAG_NAME}\\s*(?::[^=]*)?=\\s*(["'])([^"'\\\\\\n]*)\\1`, "m").exec(text);
    return m && m[2] !== "" ? m[2] : undefined;
}
