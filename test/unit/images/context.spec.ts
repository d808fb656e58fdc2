import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { loadCatalog } from "../../../src/images/catalog";
import { buildArgsWithDigest, DIR_MODE, FILE_MODE, FIXED_MTIME, stageImage, StagedContext, writeContext } from "../../../src/images/context";
import type { ImageSpec } from "../../../src/images/spec";
import { LABELS } from "../../../src/images/labels";
import { allSpecs, copyImages, REPO_IMAGES_DIR, specKey, tempDir } from "../../support/fixtures";

const repoFile = (rel: string): Buffer => fs.readFileSync(path.join(REPO_IMAGES_DIR, rel));

/** Every entry under a folder: files as `a/b`, folders as `a/`, each with its mode and mtime. */
function tree(dir: string, prefix = ""): { path: string; mode: number; mtime: number }[] {
    const out: { path: string; mode: number; mtime: number }[] = [];
    for (const name of fs.readdirSync(dir).sort()) {
        const p = path.join(dir, name);
        const st = fs.lstatSync(p);
        const rel = prefix + name;
        if (st.isDirectory()) {
            out.push({ path: `${rel}/`, mode: st.mode & 0o777, mtime: st.mtimeMs });
            out.push(...tree(p, `${rel}/`));
        } else out.push({ path: rel, mode: st.mode & 0o777, mtime: st.mtimeMs });
    }
    return out;
}

/** The folder's own entry plus everything in it, as the build context Docker would read. */
function snapshot(dir: string): string {
    const st = fs.statSync(dir);
    const self = `./ ${(st.mode & 0o777).toString(8)} ${st.mtimeMs}`;
    const rest = tree(dir).map((e) => {
        const bytes = e.path.endsWith("/") ? "" : ` ${fs.readFileSync(path.join(dir, e.path)).toString("base64")}`;
        return `${e.path} ${e.mode.toString(8)} ${e.mtime}${bytes}`;
    });
    return [self, ...rest].join("\n");
}

/** What a correctly written context of `staged` looks like on disk. */
function expectedSnapshot(staged: StagedContext): string {
    const t = FIXED_MTIME.getTime();
    const lines = [`./ ${DIR_MODE.toString(8)} ${t}`];
    for (const f of staged.files) {
        if (f.path.includes("/")) lines.push(`${f.path.split("/")[0]}/ ${DIR_MODE.toString(8)} ${t}`);
        lines.push(`${f.path} ${FILE_MODE.toString(8)} ${t} ${f.content.toString("base64")}`);
    }
    return lines.sort((a, b) => (a.split(" ")[0] < b.split(" ")[0] ? -1 : 1)).join("\n");
}

function withUmask<T>(mask: number, f: () => T): T {
    const old = process.umask(mask);
    try {
        return f();
    } finally {
        process.umask(old);
    }
}

describe("staged build contexts", () => {
    const catalog = loadCatalog();
    const specs = allSpecs(catalog);

    it("every image of the catalog gets its Dockerfile and its job type's requirements; reload variants also get control/", () => {
        const requirements: Record<string, Buffer> = {
            server: repoFile("requirements/server.txt"),
            training: repoFile("requirements/training.txt"),
        };
        const control = repoFile("requirements/control.txt");
        for (const spec of specs) {
            const staged = stageImage(catalog, spec);
            const paths = staged.files.map((f) => f.path);
            assert.deepStrictEqual(
                paths,
                spec.liveReload ? ["Dockerfile", "control/requirements.txt", "requirements.txt"] : ["Dockerfile", "requirements.txt"],
                specKey(spec),
            );
            const file = (p: string) => staged.files.find((f) => f.path === p)!.content;
            assert.ok(file("requirements.txt").equals(requirements[spec.jobType]), `${specKey(spec)}: wrong requirements.txt`);
            if (spec.liveReload) assert.ok(file("control/requirements.txt").equals(control), `${specKey(spec)}: wrong control requirements`);
            const dockerfile = file("Dockerfile");
            const own = repoFile(spec.accelerator === "gpu" ? "Dockerfile.gpu" : "Dockerfile.cpu");
            const other = repoFile(spec.accelerator === "gpu" ? "Dockerfile.cpu" : "Dockerfile.gpu");
            assert.ok(dockerfile.subarray(0, own.length).equals(own), `${specKey(spec)}: the Dockerfile does not start with ${spec.accelerator}'s`);
            assert.ok(!dockerfile.toString().includes(other.toString()), specKey(spec));
            for (const f of staged.files) assert.strictEqual(f.mode, 0o644, `${specKey(spec)} ${f.path}`);
        }
    });

    it("the server requirements never reach a training image, nor the training ones a server image", () => {
        const server = repoFile("requirements/server.txt").toString();
        const training = repoFile("requirements/training.txt").toString();
        for (const spec of specs) {
            const all = stageImage(catalog, spec).files.map((f) => f.content.toString()).join("\n");
            assert.strictEqual(all.includes(server), spec.jobType === "server", specKey(spec));
            assert.strictEqual(all.includes(training), spec.jobType === "training", specKey(spec));
        }
    });

    it("the staged Dockerfile ends with the label block: every label of the contract, the content digest from its build arg", () => {
        const staged = stageImage(catalog, { jobType: "training", python: "3.10", accelerator: "gpu", liveReload: true });
        const dockerfile = staged.files.find((f) => f.path === "Dockerfile")!.content.toString();
        const block = dockerfile.slice(repoFile("Dockerfile.gpu").length);
        assert.match(block, /^\s*# Added by truss-base-images/);
        assert.match(block, /\nARG TRUSS_BASE_CONTENT_DIGEST\nLABEL /);
        const expected: Record<string, string> = {
            "org.opencontainers.image.title": "truss-training-base",
            "org.opencontainers.image.source": "https://github.com/basetenlabs/truss",
            "truss.base.content-digest": "${TRUSS_BASE_CONTENT_DIGEST}",
            "truss.base.job-type": "training",
            "truss.base.python-version": "3.10",
            "truss.base.accelerator": "gpu",
            "truss.base.live-reload": "true",
        };
        assert.deepStrictEqual(Object.keys(expected).sort(), Object.values(LABELS).sort(), "the test lists every label of the contract");
        for (const [k, v] of Object.entries(expected)) assert.ok(block.includes(`"${k}"="${v}"`), `missing ${k}=${v} in\n${block}`);
        const cpu = stageImage(catalog, { jobType: "server", python: "3.9", accelerator: "cpu", liveReload: false });
        const cpuBlock = cpu.files.find((f) => f.path === "Dockerfile")!.content.toString();
        assert.ok(cpuBlock.includes(`"truss.base.accelerator"="cpu"`) && cpuBlock.includes(`"truss.base.live-reload"="false"`));
    });

    it("build args: the parent, the python, reload; GPU images also get their apt packages and pip source", () => {
        const args = (spec: ImageSpec) => stageImage(catalog, spec).buildArgs;
        assert.deepStrictEqual(args({ jobType: "server", python: "3.9", accelerator: "cpu", liveReload: false }), {
            PARENT_IMAGE: "python:3.9",
            PYTHON_VERSION: "3.9",
            LIVE_RELOAD: "false",
        });
        assert.deepStrictEqual(args({ jobType: "server", python: "3.9", accelerator: "gpu", liveReload: true }), {
            PARENT_IMAGE: "nvidia/cuda:12.8.1-base-ubuntu22.04",
            PYTHON_VERSION: "3.9",
            LIVE_RELOAD: "true",
            PYTHON_APT_PACKAGES: "python3.9-distutils",
        });
        assert.deepStrictEqual(args({ jobType: "training", python: "3.8", accelerator: "gpu", liveReload: false }), {
            PARENT_IMAGE: "nvidia/cuda:12.8.1-base-ubuntu22.04",
            PYTHON_VERSION: "3.8",
            LIVE_RELOAD: "false",
            PYTHON_APT_PACKAGES: "python3.8-distutils",
            GET_PIP_URL: "https://bootstrap.pypa.io/pip/3.8/get-pip.py",
        });
        assert.strictEqual(args({ jobType: "server", python: "3.12", accelerator: "gpu", liveReload: false }).PYTHON_APT_PACKAGES, "");
        const staged = stageImage(catalog, { jobType: "server", python: "3.9", accelerator: "gpu", liveReload: false });
        assert.strictEqual(buildArgsWithDigest(staged).TRUSS_BASE_CONTENT_DIGEST, staged.contentDigest);
        assert.strictEqual(staged.platform, "linux/amd64");
    });

    it("every image of the catalog has its own content digest, sha256:<64 hex>", () => {
        const digests = specs.map((s) => stageImage(catalog, s).contentDigest);
        for (const d of digests) assert.match(d, /^sha256:[0-9a-f]{64}$/);
        assert.strictEqual(new Set(digests).size, specs.length);
    });

    describe("written to disk", () => {
        const reloadSpec: ImageSpec = { jobType: "server", python: "3.9", accelerator: "gpu", liveReload: true };

        it("holds exactly the staged files, 0644 files, 0755 folders, one fixed mtime, in a folder named by the digest", () => {
            const root = tempDir("ctx");
            for (const spec of [reloadSpec, { ...reloadSpec, liveReload: false }]) {
                const staged = stageImage(catalog, spec);
                const dir = writeContext(root, staged);
                assert.strictEqual(dir, path.join(root, staged.contentDigest.slice("sha256:".length)));
                assert.strictEqual(snapshot(dir), expectedSnapshot(staged), specKey(spec));
            }
            assert.strictEqual(fs.readdirSync(root).length, 2, "no temporary folders left behind");
        });

        it("writes the same modes whatever the process umask", () => {
            const staged = stageImage(catalog, reloadSpec);
            for (const mask of [0o077, 0o000, 0o027]) {
                const dir = withUmask(mask, () => writeContext(tempDir("umask"), staged));
                assert.strictEqual(snapshot(dir), expectedSnapshot(staged), `umask ${mask.toString(8)}`);
            }
        });

        it("writing the same context twice leaves the folder untouched", () => {
            const root = tempDir("twice");
            const staged = stageImage(catalog, reloadSpec);
            const dir = writeContext(root, staged);
            const inodes = (d: string) => [d, ...tree(d).map((e) => path.join(d, e.path))].map((p) => fs.statSync(p).ino);
            const before = inodes(dir);
            assert.strictEqual(writeContext(root, staged), dir);
            assert.deepStrictEqual(inodes(dir), before, "the second write replaced files");
            assert.strictEqual(snapshot(dir), expectedSnapshot(staged));
        });

        const damages: [string, (dir: string) => void][] = [
            ["a corrupted file", (dir) => fs.appendFileSync(path.join(dir, "requirements.txt"), "evil==1.0\n")],
            ["a stray file", (dir) => fs.writeFileSync(path.join(dir, "stray.txt"), "x")],
            ["a stray file in control/", (dir) => fs.writeFileSync(path.join(dir, "control", ".DS_Store"), "x")],
            ["a stray empty folder", (dir) => fs.mkdirSync(path.join(dir, "__pycache__"))],
            ["a missing file", (dir) => fs.rmSync(path.join(dir, "control", "requirements.txt"))],
            ["a file with another mode", (dir) => fs.chmodSync(path.join(dir, "Dockerfile"), 0o755)],
            ["a folder with another mode", (dir) => fs.chmodSync(path.join(dir, "control"), 0o700)],
            ["a file with another mtime", (dir) => fs.utimesSync(path.join(dir, "Dockerfile"), new Date(), new Date())],
            ["a symlink in place of a file", (dir) => {
                const p = path.join(dir, "requirements.txt");
                const elsewhere = path.join(tempDir("link"), "requirements.txt");
                fs.copyFileSync(p, elsewhere);
                fs.chmodSync(elsewhere, 0o644);
                fs.utimesSync(elsewhere, FIXED_MTIME, FIXED_MTIME);
                fs.rmSync(p);
                fs.symlinkSync(elsewhere, p);
            }],
        ];
        for (const [what, damage] of damages) {
            it(`replaces an existing context folder with ${what}`, () => {
                const root = tempDir("damaged");
                const staged = stageImage(catalog, reloadSpec);
                const dir = writeContext(root, staged);
                damage(dir);
                assert.notStrictEqual(snapshot(dir), expectedSnapshot(staged), "the damage did not change the folder");
                assert.strictEqual(writeContext(root, staged), dir);
                assert.strictEqual(snapshot(dir), expectedSnapshot(staged));
            });
        }
    });
});

describe("content digest stability", () => {
    const reference = loadCatalog();
    const specs = allSpecs(reference);
    const digestsOf = (dir: string): string[] => {
        const catalog = loadCatalog(dir);
        return specs.map((s) => `${specKey(s)} ${stageImage(catalog, s).contentDigest}`);
    };
    const expected = digestsOf(REPO_IMAGES_DIR);

    it("is the same on every run", () => {
        assert.deepStrictEqual(digestsOf(REPO_IMAGES_DIR), expected);
    });

    it("is the same from copies of images/ elsewhere, with other file modes, timestamps and umasks", () => {
        const copies = [
            withUmask(0o077, () => copyImages({ fileMode: 0o600, dirMode: 0o700, mtime: new Date("1999-03-04T05:06:07Z") })),
            withUmask(0o000, () => copyImages({ fileMode: 0o777, dirMode: 0o777, mtime: new Date() })),
            withUmask(0o022, () => copyImages({ fileMode: 0o444, mtime: new Date("2031-12-31T23:59:59Z") })),
        ];
        for (const dir of copies) {
            assert.notStrictEqual(path.resolve(dir), path.resolve(REPO_IMAGES_DIR));
            assert.deepStrictEqual(withUmask(0o077, () => digestsOf(dir)), expected, dir);
        }
    });

    it("contexts written from two copies under different umasks are byte-for-byte the same trees", () => {
        const a = loadCatalog(withUmask(0o077, () => copyImages({ fileMode: 0o600, dirMode: 0o700 })));
        const b = loadCatalog(copyImages({ fileMode: 0o755, mtime: new Date("2010-01-01T00:00:00Z") }));
        const rootA = tempDir("a");
        const rootB = tempDir("b");
        for (const spec of specs.filter((s) => s.python === "3.9" || s.python === "3.14")) {
            const dirA = withUmask(0o077, () => writeContext(rootA, stageImage(a, spec)));
            const dirB = withUmask(0o002, () => writeContext(rootB, stageImage(b, spec)));
            assert.strictEqual(path.basename(dirA), path.basename(dirB), specKey(spec));
            assert.strictEqual(snapshot(dirA), snapshot(dirB), specKey(spec));
        }
    });
});
