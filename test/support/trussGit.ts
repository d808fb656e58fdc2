// Truss checkouts with a git history made by the tests: the fixture checkout (trussCheckouts.ts)
// committed, then changed commit by commit as a Truss maintainer would (a docs change, a pin, a
// template edit, a version bump), so the release gate can be replayed against each commit.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { tempDir } from "./fixtures";
import { TrussLayout, writeTrussCheckout } from "./trussCheckouts";

const ENV = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_AUTHOR_NAME: "Truss maintainer",
    GIT_AUTHOR_EMAIL: "maintainer@example.com",
    GIT_COMMITTER_NAME: "Truss maintainer",
    GIT_COMMITTER_EMAIL: "maintainer@example.com",
    HOME: tempDir("git-home"),
};

/** Runs git in `dir` (for the tests' own repositories) and returns its trimmed stdout. */
export function git(dir: string, ...args: string[]): string {
    return execFileSync("git", ["-C", dir, ...args], { env: ENV, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

export const VERSION_TAG_FILE = "truss/contexts/image_builder/util.py";
export const SERVER_REQUIREMENTS = "truss/templates/server/requirements.txt";
export const TEMPLATE = "docker/base_images/base_image.Dockerfile.jinja";

/** A fixture checkout under git: commit changes to it and read its commits. */
export class TrussRepo {
    constructor(readonly dir: string) {}

    /** Initializes a repository holding the fixture checkout of `layout` at version `tag`, one commit. */
    static create(tag: string, layout: TrussLayout = "today"): TrussRepo {
        const repo = new TrussRepo(writeTrussCheckout(layout));
        git(repo.dir, "init", "-q", "-b", "main");
        fs.writeFileSync(path.join(repo.dir, "README.md"), "# Truss\n");
        repo.setTag(tag, false);
        repo.commit(`Truss at ${tag}`);
        return repo;
    }

    read(rel: string): string {
        return fs.readFileSync(path.join(this.dir, ...rel.split("/")), "utf8");
    }

    /** Replaces the file (a symlink there is removed, never written through). */
    write(rel: string, text: string): void {
        const file = path.join(this.dir, ...rel.split("/"));
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.rmSync(file, { force: true });
        fs.writeFileSync(file, text, { flag: "wx" });
    }

    edit(rel: string, from: string | RegExp, to: string): void {
        const before = this.read(rel);
        const after = before.replace(from, to);
        if (after === before) throw new Error(`${rel}: ${String(from)} not found`);
        this.write(rel, after);
    }

    /** Sets TRUSS_BASE_IMAGE_VERSION_TAG (and commits when asked); returns the commit's SHA when committed. */
    setTag(tag: string, commit = true): string | undefined {
        this.edit(VERSION_TAG_FILE, /TRUSS_BASE_IMAGE_VERSION_TAG = .*/, `TRUSS_BASE_IMAGE_VERSION_TAG = "${tag}"`);
        return commit ? this.commit(`Bump base images to ${tag}`) : undefined;
    }

    /** Commits everything; returns the full SHA. */
    commit(message: string): string {
        git(this.dir, "add", "-A");
        git(this.dir, "commit", "-q", "--allow-empty", "-m", message);
        return this.head();
    }

    head(): string {
        return git(this.dir, "rev-parse", "HEAD");
    }

    /** `n` commits that change only the docs: the long history a checkout has. */
    docsCommits(n: number): void {
        for (let i = 0; i < n; i++) {
            fs.appendFileSync(path.join(this.dir, "README.md"), `line ${i}\n`);
            this.commit(`docs ${i}`);
        }
    }

    /** A shallow clone (depth 1) of this repository's HEAD, as CI's default checkout makes. */
    shallowClone(): string {
        const dir = path.join(tempDir("truss-shallow"), "truss");
        execFileSync("git", ["clone", "-q", "--depth", "1", `file://${this.dir}`, dir], { env: ENV, stdio: "ignore" });
        return dir;
    }

    /** A full clone of this repository. */
    clone(): string {
        const dir = path.join(tempDir("truss-clone"), "truss");
        execFileSync("git", ["clone", "-q", `file://${this.dir}`, dir], { env: ENV, stdio: "ignore" });
        return dir;
    }
}

export const short = (sha: string): string => sha.slice(0, 12);
