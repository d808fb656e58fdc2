import * as fs from "fs";
import * as path from "path";
import { UserError } from "../errors";

/**
 * Reading the files of a Truss checkout, which is data a pull request controls: every file read
 * must be a regular file whose real path is inside the checkout, of bounded size. A symlink
 * whose target stays inside the checkout is followed (Truss's script copies what it points to);
 * one that leaves the checkout, a FIFO, a socket, a device or an oversized file is one
 * CheckoutFileError naming the path and what it is. A FIFO is never opened: its type is checked
 * with lstat first, and the open itself neither follows a symlink nor waits (O_NOFOLLOW |
 * O_NONBLOCK), with fstat confirming it opened the file that was checked.
 */

/** The most bytes one file of a checkout may have: Truss's largest such file is a few KiB. */
export const CHECKOUT_FILE_LIMIT = 1024 * 1024;
/** The most bytes all files read from one checkout may have together. */
export const CHECKOUT_TOTAL_LIMIT = 32 * 1024 * 1024;
/** The most files and folders one checkout's folder walks may visit. */
export const CHECKOUT_ENTRY_LIMIT = 10_000;

/** A file of a checkout that is not one we read: outside it, not a regular file, or too large. */
export class CheckoutFileError extends UserError {
    constructor(
        readonly dir: string,
        readonly rel: string,
        readonly what: string,
    ) {
        super(`Truss checkout ${dir}: ${rel} ${what}. A checkout is read as data: only regular files inside it. Nothing was declared or published.`);
    }
}

function mib(bytes: number): string {
    return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}

/** What a folder of the checkout holds. */
export interface CheckoutEntry {
    readonly name: string;
    readonly kind: "file" | "folder";
}

function kindOf(st: fs.Stats): string {
    if (st.isFIFO()) return "a FIFO (named pipe)";
    if (st.isSocket()) return "a socket";
    if (st.isCharacterDevice()) return "a character device";
    if (st.isBlockDevice()) return "a block device";
    if (st.isDirectory()) return "a folder";
    if (st.isSymbolicLink()) return "a symlink";
    return "not a regular file";
}

const isMissing = (e: unknown): boolean => ["ENOENT", "ENOTDIR"].includes((e as NodeJS.ErrnoException).code ?? "");

/** One checkout's files, read once each, within the limits above. */
export class CheckoutFiles {
    /** The checkout's real path. */
    readonly root: string;
    private readonly cache = new Map<string, Buffer | undefined>();
    private total = 0;
    private entries = 0;
    private readonly limits: { readonly file: number; readonly total: number; readonly entries: number };

    /** `limits` other than the defaults are for tests. */
    constructor(
        readonly dir: string,
        limits: Partial<{ file: number; total: number; entries: number }> = {},
    ) {
        this.root = fs.realpathSync(dir);
        this.limits = { file: CHECKOUT_FILE_LIMIT, total: CHECKOUT_TOTAL_LIMIT, entries: CHECKOUT_ENTRY_LIMIT, ...limits };
    }

    /**
     * The real path of `rel` (`/`-separated, relative to the checkout), checked to be inside the
     * checkout; undefined when nothing is there.
     */
    private resolve(rel: string): string | undefined {
        if (path.isAbsolute(rel) || rel.split("/").some((s) => s === ".." || s === "")) {
            throw new CheckoutFileError(this.dir, rel, "is not a path inside the checkout");
        }
        const joined = path.join(this.root, ...rel.split("/"));
        let real: string;
        try {
            real = fs.realpathSync(joined);
        } catch (e) {
            if (!isMissing(e)) throw new CheckoutFileError(this.dir, rel, `cannot be read (${(e as NodeJS.ErrnoException).code})`);
            const link = this.firstSymlink(rel);
            if (link) throw new CheckoutFileError(this.dir, link.rel, `is a symlink to ${link.target}, which does not exist`);
            return undefined;
        }
        if (real !== this.root && !real.startsWith(this.root + path.sep)) {
            const link = this.firstSymlink(rel);
            const shown = link && link.target !== real ? `${link.target} (${real})` : real;
            throw new CheckoutFileError(this.dir, link?.rel ?? rel, `is a symlink to ${shown}, outside the checkout`);
        }
        return real;
    }

    /** The first component of `rel` that is a symlink, and where it points. */
    private firstSymlink(rel: string): { rel: string; target: string } | undefined {
        const parts = rel.split("/");
        for (let i = 1; i <= parts.length; i++) {
            const sub = parts.slice(0, i).join("/");
            try {
                const p = path.join(this.root, ...parts.slice(0, i));
                if (fs.lstatSync(p).isSymbolicLink()) return { rel: sub, target: fs.readlinkSync(p) };
            } catch {
                return undefined;
            }
        }
        return undefined;
    }

    /** The bytes of a regular file of the checkout; undefined when there is none. */
    read(rel: string): Buffer | undefined {
        if (this.cache.has(rel)) return this.cache.get(rel);
        const content = this.readUncached(rel);
        this.cache.set(rel, content);
        return content;
    }

    /** The bytes of a file that must be there. */
    require(rel: string): Buffer {
        const content = this.read(rel);
        if (content === undefined) throw new CheckoutFileError(this.dir, rel, "does not exist");
        return content;
    }

    /** The text of a file (UTF-8); undefined when there is none. */
    text(rel: string): string | undefined {
        return this.read(rel)?.toString("utf8");
    }

    private readUncached(rel: string): Buffer | undefined {
        const real = this.resolve(rel);
        if (real === undefined) return undefined;
        const st = fs.lstatSync(real);
        if (st.isDirectory()) return undefined;
        if (!st.isFile()) throw new CheckoutFileError(this.dir, rel, `is ${kindOf(st)}, not a regular file`);
        this.checkSize(rel, st.size);
        let fd: number;
        try {
            fd = fs.openSync(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
        } catch (e) {
            throw new CheckoutFileError(this.dir, rel, `cannot be opened (${(e as NodeJS.ErrnoException).code})`);
        }
        try {
            const opened = fs.fstatSync(fd);
            if (!opened.isFile() || opened.ino !== st.ino || opened.dev !== st.dev) {
                throw new CheckoutFileError(this.dir, rel, `changed while it was read (it is now ${opened.isFile() ? "another file" : kindOf(opened)})`);
            }
            // One byte more than allowed tells a file that grew since fstat from one that did not.
            const buf = Buffer.alloc(Math.min(opened.size, this.limits.file) + 1);
            let n = 0;
            for (;;) {
                const got = fs.readSync(fd, buf, n, buf.length - n, null);
                if (got === 0) break;
                n += got;
                if (n === buf.length) break;
            }
            if (n > this.limits.file) this.checkSize(rel, n);
            const content = buf.subarray(0, Math.min(n, opened.size));
            this.total += content.length;
            if (this.total > this.limits.total) {
                throw new CheckoutFileError(
                    this.dir,
                    rel,
                    `brings the files read from the checkout to ${this.total} bytes, more than the limit of ${mib(this.limits.total)} for all of them`,
                );
            }
            return content;
        } finally {
            fs.closeSync(fd);
        }
    }

    private checkSize(rel: string, size: number): void {
        if (size > this.limits.file) {
            throw new CheckoutFileError(this.dir, rel, `is ${size} bytes, more than the limit of ${mib(this.limits.file)} per file`);
        }
    }

    /**
     * The entries of a folder of the checkout, sorted by name; undefined when there is no such
     * folder. Symlinks are reported as what they point to (inside the checkout only); anything
     * that is neither a regular file nor a folder is an error.
     */
    list(rel: string): CheckoutEntry[] | undefined {
        const real = this.resolve(rel);
        if (real === undefined || !fs.lstatSync(real).isDirectory()) return undefined;
        const out: CheckoutEntry[] = [];
        for (const e of fs.readdirSync(real, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
            if (++this.entries > this.limits.entries) {
                throw new CheckoutFileError(this.dir, rel, `holds more than ${this.limits.entries} files and folders (counting every folder read)`);
            }
            const child = `${rel}/${e.name}`;
            if (e.isDirectory()) out.push({ name: e.name, kind: "folder" });
            else if (e.isFile()) out.push({ name: e.name, kind: "file" });
            else if (e.isSymbolicLink()) {
                const target = this.resolve(child);
                if (target === undefined) continue;
                const st = fs.lstatSync(target);
                if (st.isDirectory()) out.push({ name: e.name, kind: "folder" });
                else if (st.isFile()) out.push({ name: e.name, kind: "file" });
                else throw new CheckoutFileError(this.dir, child, `is a symlink to ${kindOf(st)}, not a regular file`);
            } else {
                throw new CheckoutFileError(this.dir, child, `is ${kindOf(fs.lstatSync(path.join(real, e.name)))}, not a regular file`);
            }
        }
        return out;
    }

    /**
     * Every regular file under a folder (`/`-separated paths relative to the checkout), sorted;
     * a folder reached twice through symlinks (a loop) is an error.
     */
    walk(rel: string): string[] {
        const files: string[] = [];
        const seen = new Set<string>();
        const visit = (folder: string): void => {
            const real = this.resolve(folder);
            if (real === undefined) return;
            if (seen.has(real)) throw new CheckoutFileError(this.dir, folder, `leads back to a folder already read (a symlink loop)`);
            seen.add(real);
            for (const e of this.list(folder) ?? []) {
                const child = `${folder}/${e.name}`;
                if (e.kind === "folder") visit(child);
                else files.push(child);
            }
        };
        visit(rel);
        return files.sort();
    }
}
