// Stand-in parents: images shaped like the official python:<X> images, made here from Debian's
// own packages because Docker Hub is out of reach. debootstrap lays out a Debian root file system
// whose python3 is the version we need (bookworm: 3.11, trixie: 3.13), a few steps shape it like
// python:<X> as far as Truss relies on it (python at /usr/local/bin/python3, pip usable for that
// interpreter, venv, headers, a C toolchain, git, curl, bash, useradd), and `docker import` turns
// the tarball into an image. Real stacks build on the real parents; these only stand in for them
// in tests and on a developer's machine (a stack's `parents` override names them).
//
// The root file system is cached per machine, outside the clone, keyed by a hash of everything
// that goes into it, so only the first run pays for debootstrap.
import { createHash } from "crypto";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { docker } from "./docker";

/** The Debian suite whose python3 is each stand-in's python. */
export const STAND_IN_SUITES: Readonly<Record<string, string>> = { "3.11": "bookworm", "3.13": "trixie" };
/** The python versions there are stand-ins for. */
export const STAND_IN_PYTHONS = Object.keys(STAND_IN_SUITES);

/**
 * The one list of what a stand-in has beyond debootstrap's minimal base (which already brings
 * bash, passwd's useradd and apt): what Truss's Dockerfiles and smoke tests use of python:<X>.
 */
export const STAND_IN_PACKAGES: readonly string[] = [
    "python3", // the interpreter, linked at /usr/local/bin/python3 below
    "python3-pip", // pip for the system interpreter (python:<X> ships pip)
    "python3-venv", // python3 -m venv (Truss's control server venv)
    "python3-dev", // Python.h, for packages that compile extensions
    "gcc",
    "g++",
    "make",
    "libc6-dev",
    "git",
    "curl",
    "ca-certificates",
    "passwd", // useradd (Truss's model images add an `app` user)
];

/** Where debootstrap fetches from: Debian's own mirror, or TRUSS_STAND_IN_MIRROR. */
const MIRROR = process.env.TRUSS_STAND_IN_MIRROR ?? "http://deb.debian.org/debian";
/** Run in the new root: what makes a Debian root file system look like python:<X> to Truss. */
const SHAPE = `set -eu
# PEP 668: Debian marks its python as externally managed; python:<X>'s pip installs into it freely.
rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
ln -s /usr/bin/python3 /usr/local/bin/python3
ln -s python3 /usr/local/bin/python
# pip as python:<X> has it: installed into /usr/local by pip itself, with its RECORD, so that
# \`pip install --upgrade pip\` can replace it (trixie's Debian pip has no RECORD and cannot be
# uninstalled). From the wheel Debian ships for ensurepip: no network needed.
whl=$(ls /usr/share/python-wheels/pip-*.whl)
python3 "$whl/pip" install --quiet --no-index --ignore-installed --root-user-action=ignore "$whl"
update-ca-certificates
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log /tmp/* /root/.cache
`;
/** The environment of python:<X> that Truss reads (PATH with /usr/local/bin first, a UTF-8 locale). */
const ENV = [
    "PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
    // Tools with a CA bundle of their own (uv) use the system's, which holds the machine's CAs (below).
    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
];
/**
 * The CAs this machine adds to Debian's (a TLS-inspecting proxy's, on machines that reach the
 * package registries through one): a stand-in trusts what the machine trusts, so pip and apt
 * inside builds reach what the machine reaches. Real parents never get them.
 */
const MACHINE_CA_DIR = "/usr/local/share/ca-certificates";

function machineCAs(): { name: string; content: string }[] {
    if (!fs.existsSync(MACHINE_CA_DIR)) return [];
    return fs
        .readdirSync(MACHINE_CA_DIR)
        .filter((n) => n.endsWith(".crt"))
        .sort()
        .map((name) => ({ name, content: fs.readFileSync(path.join(MACHINE_CA_DIR, name), "utf8") }));
}
/** The label that marks an image as a stand-in (and which root file system it was made from). */
export const STAND_IN_LABEL = "truss-base-images.test.stand-in";
/** The repository stand-ins get in the daemon: a name of their own, never python:<X> itself. */
export const STAND_IN_REPOSITORY = "truss-base-images-test/stand-in-python";

export function cacheRoot(): string {
    const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
    return path.join(base, "truss-base-images");
}

function standInCache(): string {
    return path.join(cacheRoot(), "stand-ins");
}

function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}

function suiteOf(python: string): string {
    const suite = STAND_IN_SUITES[python];
    if (!suite) {
        throw new Error(
            `there is no stand-in for python ${python}: stand-ins exist for ${STAND_IN_PYTHONS.join(", ")} (Debian's own python3)`,
        );
    }
    return suite;
}

/** The hash of everything a stand-in's root file system is made of. */
export function rootfsHash(python: string): string {
    return sha256(
        JSON.stringify({ suite: suiteOf(python), packages: STAND_IN_PACKAGES, mirror: MIRROR, shape: SHAPE, env: ENV, cas: machineCAs() }),
    );
}

/** The cached root file system tarball of a stand-in. */
export function rootfsTarball(python: string): string {
    return path.join(standInCache(), `${suiteOf(python)}-${rootfsHash(python).slice(0, 16)}.tar`);
}

/** The stand-in's name in the local daemon. */
export function localStandIn(python: string): string {
    return `${STAND_IN_REPOSITORY}:${python}-${rootfsHash(python).slice(0, 12)}`;
}

function runLogged(command: string, args: string[], log: fs.WriteStream): Promise<void> {
    return new Promise((resolve, reject) => {
        log.write(`+ ${command} ${args.join(" ")}\n`);
        const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
        child.stdout.pipe(log, { end: false });
        child.stderr.pipe(log, { end: false });
        child.once("error", (e) =>
            reject(new Error(`could not run ${command} (${e.message}); install it with \`apt-get install -y debootstrap\``)),
        );
        child.once("close", (code) =>
            code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")} exited with code ${code}`)),
        );
    });
}

/** Makes the cached tarball of a stand-in's root file system if it is not there. */
async function ensureRootfs(python: string, progress: (line: string) => void): Promise<string> {
    const tarball = rootfsTarball(python);
    if (fs.existsSync(tarball)) return tarball;
    if (typeof process.getuid === "function" && process.getuid() !== 0) {
        throw new Error(`making the stand-in for python ${python} runs debootstrap, which needs root: run this as root (or through sudo)`);
    }
    const suite = suiteOf(python);
    fs.mkdirSync(standInCache(), { recursive: true });
    const debs = path.join(standInCache(), `debs-${suite}`);
    fs.mkdirSync(debs, { recursive: true });
    const work = fs.mkdtempSync(path.join(standInCache(), `${suite}-work-`));
    const root = path.join(work, "rootfs");
    const logFile = path.join(standInCache(), `${suite}.log`);
    const log = fs.createWriteStream(logFile);
    progress(`python ${python}: debootstrap ${suite} (log: ${logFile})`);
    try {
        await runLogged(
            "debootstrap",
            ["--variant=minbase", `--include=${STAND_IN_PACKAGES.join(",")}`, `--cache-dir=${debs}`, suite, root, MIRROR],
            log,
        );
        for (const ca of machineCAs()) fs.writeFileSync(path.join(root, MACHINE_CA_DIR, ca.name), ca.content);
        await runLogged("chroot", [root, "/bin/sh", "-c", SHAPE], log);
        await runLogged(
            "tar",
            ["--numeric-owner", "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "-C", root, "-cf", `${tarball}.tmp`, "."],
            log,
        );
        fs.renameSync(`${tarball}.tmp`, tarball);
        // An older recipe's tarball of the same suite is never read again.
        for (const f of fs.readdirSync(standInCache())) {
            if (f.startsWith(`${suite}-`) && f.endsWith(".tar") && path.join(standInCache(), f) !== tarball) {
                fs.rmSync(path.join(standInCache(), f), { force: true });
            }
        }
    } catch (e) {
        throw new Error(`${(e as Error).message}; see ${logFile}`);
    } finally {
        log.end();
        fs.rmSync(work, { recursive: true, force: true });
        fs.rmSync(`${tarball}.tmp`, { force: true });
    }
    return tarball;
}

/**
 * Makes the stand-in for `python` in the local daemon (from the cached root file system, making
 * that first if needed) and returns its local name. Quick when the image is already there.
 */
export async function ensureStandIn(python: string, progress: (line: string) => void = () => undefined): Promise<string> {
    const ref = localStandIn(python);
    if ((await docker(["image", "inspect", ref], { allowFailure: true })).code === 0) return ref;
    const tarball = await ensureRootfs(python, progress);
    progress(`python ${python}: docker import ${tarball}`);
    const changes = [...ENV.map((e) => `ENV ${e}`), `LABEL ${STAND_IN_LABEL}=${path.basename(tarball)}`, 'CMD ["python3"]'];
    await docker(["import", ...changes.flatMap((c) => ["--change", c]), tarball, ref]);
    // Stand-ins of an older recipe for this python are never used again.
    const tags = (await docker(["image", "ls", "--format", "{{.Tag}}", STAND_IN_REPOSITORY])).stdout.split("\n");
    const stale = tags.filter((t) => t.startsWith(`${python}-`) && `${STAND_IN_REPOSITORY}:${t}` !== ref);
    if (stale.length > 0) await docker(["image", "rm", ...stale.map((t) => `${STAND_IN_REPOSITORY}:${t}`)], { allowFailure: true });
    return ref;
}

const pending = new Map<string, Promise<string>>();

/** ensureStandIn, once per python for the whole test process. */
export function standIn(python: string): Promise<string> {
    let p = pending.get(python);
    if (!p) {
        p = ensureStandIn(python);
        p.catch(() => pending.delete(python));
        pending.set(python, p);
    }
    return p;
}

export interface PushedStandIn {
    readonly python: string;
    readonly suite: string;
    /** `<registry>/library/python:<X>`. */
    readonly reference: string;
    readonly digest: string;
}

/** Pushes a stand-in to `<registry>/library/python:<python>` and returns its manifest digest. */
export async function pushStandIn(
    python: string,
    registry: string,
    progress: (line: string) => void = () => undefined,
): Promise<PushedStandIn> {
    const local = await ensureStandIn(python, progress);
    const reference = `${registry}/library/python:${python}`;
    await docker(["tag", local, reference]);
    try {
        const out = (await docker(["push", reference])).stdout;
        const digest = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
        if (!digest) throw new Error(`docker push ${reference} printed no digest:\n${out}`);
        return { python, suite: suiteOf(python), reference, digest };
    } finally {
        // Only the tag goes: the image stays under its local stand-in name.
        await docker(["image", "rm", reference], { allowFailure: true });
    }
}
