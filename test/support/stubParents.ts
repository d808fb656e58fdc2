// Stub parent images for the GPU branch of the integration tests. Its parent (nvidia/cuda) and
// NVIDIA's apt repository are out of reach here, and nothing can stand in for them, so the tests
// of what Dockerfile.gpu asks for build on a stub: FROM scratch, a static busybox with its
// applets, and the stub commands of test/support/stubs/ (apt-get, add-apt-repository, curl, gpg,
// python, pip) that log their calls and record what they "install". The project's real Dockerfile
// then builds unmodified on top of it. The stub gets a name of its own (stubParentName), never
// nvidia/cuda:...: a stack's `parents` override (stubParentOverrides) points the catalog's GPU
// parent at it. CPU images build on the stand-ins of standIns.ts, with real installs.
import { createHash } from "crypto";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Catalog, catalogParent } from "../../src/images/catalog";
import { docker } from "./docker";

/** Where the stubs log: one line per call, the command then its arguments, tab-separated. */
export const STUB_CALLS_LOG = "/var/log/truss-stub/calls.log";
/** What stubs read on stdin (a get-pip.py script, a key), each under a `=== stdin of <cmd>` line. */
export const STUB_STDIN_LOG = "/var/log/truss-stub/stdin.log";
/** Every package the apt-get stub installed, as given (e.g. `libcudnn8=8.9.7.29-1+cuda12.2`). */
export const STUB_APT_INSTALLED = "/var/lib/truss-stub/apt-installed.txt";
/** The label that tells which stub content a parent was built from. */
export const STUB_HASH_LABEL = "truss-base-images.test.stub-hash";

/** The requirements pip installed into the environment at `prefix`, one per line. */
export function stubInstalledRequirements(prefix: string, python: string): string {
    return `${prefix}/lib/python${python}/site-packages/truss-stub-installed.txt`;
}

/** The version line the stub interpreter prints for `--version`. */
export function stubPythonVersionLine(python: string): string {
    return `Python ${python}.0`;
}

const BUSYBOX = "/bin/busybox";
const STUBS_DIR = path.join(__dirname, "stubs");
/** Installed at /usr/bin; the others live in /usr/lib/truss-stub. */
const COMMANDS = ["add-apt-repository", "apt-get", "curl", "gpg"];
const PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Bump when the recipes below change in a way the hashed files do not show. */
const RECIPE_VERSION = "1";

function sha256(data: string | Buffer): string {
    return createHash("sha256").update(data).digest("hex");
}

/** Fails unless `file` is an ELF executable without a program interpreter (statically linked). */
function assertStaticBusybox(file: string): Buffer {
    let bytes: Buffer;
    try {
        bytes = fs.readFileSync(file);
    } catch {
        throw new Error(`no busybox at ${file}: install a static one with \`apt-get install -y busybox-static\``);
    }
    const isElf64 = bytes.readUInt32BE(0) === 0x7f454c46 && bytes[4] === 2;
    if (!isElf64) throw new Error(`${file} is not a 64-bit ELF executable; install \`busybox-static\``);
    const phoff = Number(bytes.readBigUInt64LE(0x20));
    const phentsize = bytes.readUInt16LE(0x36);
    const phnum = bytes.readUInt16LE(0x38);
    for (let i = 0; i < phnum; i++) {
        const PT_INTERP = 3;
        if (bytes.readUInt32LE(phoff + i * phentsize) === PT_INTERP) {
            throw new Error(`${file} is dynamically linked and cannot run in a FROM scratch image; install \`busybox-static\``);
        }
    }
    return bytes;
}

function stubFiles(): { name: string; content: Buffer }[] {
    return fs
        .readdirSync(STUBS_DIR)
        .sort()
        .map((name) => ({ name, content: fs.readFileSync(path.join(STUBS_DIR, name)) }));
}

/** The catalog's GPU parent references: the ones a stub stands in for. */
function gpuParents(catalog: Catalog): string[] {
    return [...new Set([...catalog.pythonVersions.keys()].map((python) => catalogParent(catalog, python, "gpu")))].sort();
}

function parentDockerfile(base: string, hash: string): string {
    // nvidia/cuda:...-ubuntu22.04: Ubuntu jammy (its own python is 3.10, not installed), the CUDA
    // apt repository configured, no python at all.
    return [
        `FROM ${base}`,
        `ENV NVARCH=x86_64 CUDA_VERSION=12.8.1 NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility \\`,
        `    PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:${PATH_ENV}`,
        `RUN mkdir -p /etc/truss-stub /etc/apt/sources.list.d && echo 3.10 > /etc/truss-stub/distro-python \\`,
        ` && echo "deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2204/x86_64/ /" \\`,
        `    > /etc/apt/sources.list.d/cuda-ubuntu2204-x86_64.list`,
        `LABEL ${STUB_HASH_LABEL}=${hash}`,
        "",
    ].join("\n");
}

async function labelOf(ref: string): Promise<string | undefined> {
    const r = await docker(["image", "inspect", "--format", `{{ index .Config.Labels "${STUB_HASH_LABEL}" }}`, ref], {
        allowFailure: true,
    });
    return r.code === 0 ? r.stdout.trim() : undefined;
}

/** FROM scratch: busybox, its applets linked in /bin, and the stub commands. */
async function buildBase(tag: string, hash: string, busybox: Buffer, files: { name: string; content: Buffer }[]): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "truss-stub-base-"));
    try {
        const root = path.join(dir, "rootfs");
        for (const d of ["bin", "usr/bin", "usr/lib/truss-stub", "var/log/truss-stub", "root", "etc"]) {
            fs.mkdirSync(path.join(root, d), { recursive: true });
        }
        fs.mkdirSync(path.join(root, "tmp"));
        fs.chmodSync(path.join(root, "tmp"), 0o1777);
        fs.writeFileSync(path.join(root, "bin/busybox"), busybox, { mode: 0o755 });
        const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" })
            .split("\n")
            .filter((a) => /^[\w.-]+$/.test(a) && a !== "busybox");
        for (const applet of applets) fs.symlinkSync("busybox", path.join(root, "bin", applet));
        for (const f of files) {
            const where = COMMANDS.includes(f.name) ? "usr/bin" : "usr/lib/truss-stub";
            fs.writeFileSync(path.join(root, where, f.name), f.content, { mode: f.name.endsWith(".sh") ? 0o644 : 0o755 });
        }
        fs.writeFileSync(path.join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        fs.writeFileSync(path.join(root, "etc/group"), "root:x:0:\n");
        fs.writeFileSync(
            path.join(dir, "Dockerfile"),
            ["FROM scratch", "COPY rootfs/ /", `ENV PATH=${PATH_ENV}`, `LABEL ${STUB_HASH_LABEL}=${hash}`, 'CMD ["/bin/sh"]', ""].join(
                "\n",
            ),
        );
        await docker(["build", "--network", "host", "-t", tag, dir]);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** The stubs' repository in the daemon. */
export const STUB_REPOSITORY = "truss-base-images-test/stub-parent";

/** The stub's own name for a parent reference of the catalog (`python:3.9` -> `.../stub-parent:python-3.9`). */
export function stubParentName(ref: string): string {
    return `${STUB_REPOSITORY}:${ref.replace(/[^A-Za-z0-9_.-]+/g, "-").slice(0, 128)}`;
}

/** The `parents` override that builds the catalog's GPU parent on its stub. */
export function stubParentOverrides(catalog: Catalog): Record<string, string> {
    return Object.fromEntries(gpuParents(catalog).map((ref) => [ref, stubParentName(ref)]));
}

let ensured: { hash: string; done: Promise<void> } | undefined;

/**
 * Builds a stub for the catalog's GPU parent (the CUDA image) under its stubParentName, so that
 * the real Dockerfile.gpu builds FROM it through
 * stubParentOverrides. Idempotent and quick when the stubs exist with the same content (a label
 * carries a hash of the stub files).
 */
export async function ensureStubParents(catalog: Catalog): Promise<void> {
    const busybox = assertStaticBusybox(BUSYBOX);
    const files = stubFiles();
    const hash = sha256([RECIPE_VERSION, sha256(busybox), ...files.map((f) => `${f.name} ${sha256(f.content)}`), PATH_ENV].join("\n"));
    const wanted = gpuParents(catalog);
    const key = `${hash} ${JSON.stringify(wanted)}`;
    if (ensured?.hash !== key) {
        const done = build(hash, busybox, files, wanted);
        ensured = { hash: key, done };
        done.catch(() => {
            if (ensured?.done === done) ensured = undefined;
        });
    }
    await ensured.done;
}

async function build(hash: string, busybox: Buffer, files: { name: string; content: Buffer }[], wanted: readonly string[]): Promise<void> {
    const base = `truss-base-images-test/stub-base:${hash.slice(0, 16)}`;
    if ((await labelOf(base)) !== hash) await buildBase(base, hash, busybox, files);
    for (const ref of wanted) {
        const parentHash = sha256(`${hash}\n${parentDockerfile(base, "HASH")}`);
        const name = stubParentName(ref);
        if ((await labelOf(name)) === parentHash) continue;
        await docker(["build", "--network", "host", "-t", name, "-"], { input: parentDockerfile(base, parentHash) });
    }
}
