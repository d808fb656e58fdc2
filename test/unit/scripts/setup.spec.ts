import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const SETUP = path.join(ROOT, "scripts", "setup.sh");

/** The real path of a command on this machine's PATH. */
function which(command: string): string {
    for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
        const candidate = path.join(dir, command);
        if (dir && fs.existsSync(candidate)) return candidate;
    }
    throw new Error(`${command} is not on PATH`);
}

// What any machine has; everything else a test's machine has is a stub the test writes.
const BASE_TOOLS = ["bash", "env", "grep", "sed", "dirname", "cat", "tail", "seq", "sleep"];

/**
 * Runs scripts/setup.sh (or a shell snippet after sourcing it) on a pretend machine: a PATH of
 * the base tools, node, and the given stub commands (shell scripts; null: not installed).
 * Nothing else is on PATH.
 */
function onMachine(stubs: Record<string, string | null>, run: { args?: string[]; snippet?: string }) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "truss-setup-"));
    try {
        for (const tool of BASE_TOOLS) fs.symlinkSync(which(tool), path.join(dir, tool));
        for (const [name, body] of Object.entries({ id: "echo 0", uname: "echo Linux", ...stubs })) {
            if (body === null) continue;
            fs.writeFileSync(path.join(dir, name), `#!${which("bash")}\n${body}\n`, { mode: 0o755 });
        }
        if (!("node" in stubs)) fs.symlinkSync(process.execPath, path.join(dir, "node"));
        const args = run.snippet ? ["-c", `source "${SETUP}"; ${run.snippet}`] : [SETUP, ...(run.args ?? [])];
        const r = spawnSync(path.join(dir, "bash"), args, { cwd: ROOT, encoding: "utf8", env: { PATH: dir, HOME: dir }, timeout: 30_000 });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: r.stdout + r.stderr };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** dpkg-query that reports exactly `installed` as installed. */
const dpkgWith = (installed: string[]) =>
    `case " ${installed.join(" ")} " in *" \${@: -1} "*) echo "install ok installed" ;; *) exit 1 ;; esac`;
const DEBIAN = { "apt-get": "exit 99", "dpkg-query": dpkgWith([]) };

describe("scripts/setup.sh: what npm run setup decides (pretend machines, --dry-run or single functions)", () => {
    it("tells Debian/Ubuntu (apt-get and dpkg-query) from macOS and from other systems", () => {
        assert.equal(onMachine(DEBIAN, { snippet: "system_kind" }).stdout.trim(), "debian");
        assert.equal(onMachine({ uname: "echo Darwin" }, { snippet: "system_kind" }).stdout.trim(), "macos");
        assert.equal(onMachine({}, { snippet: "system_kind" }).stdout.trim(), "other", "Linux without apt-get");
    });

    it("lists the packages dpkg does not report installed, in the list's order", () => {
        const r = onMachine(
            { "dpkg-query": dpkgWith(["docker.io", "shellcheck", "openssl", "containerd"]) },
            { snippet: "missing_debian_packages" },
        );
        assert.equal(
            r.stdout.trim(),
            "docker-registry busybox-static apache2-utils openssh-client openssh-server python3-jinja2 stargz-snapshotter debootstrap",
        );
    });

    it("as root on Debian, installs only the missing packages with apt-get, then npm ci", () => {
        const r = onMachine({ ...DEBIAN, "dpkg-query": dpkgWith(["docker.io", "docker-registry"]) }, { args: ["--dry-run"] });
        assert.match(r.stdout, /would run: env DEBIAN_FRONTEND=noninteractive apt-get update/);
        assert.match(
            r.stdout,
            /would run: env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends busybox-static shellcheck apache2-utils openssl openssh-client openssh-server python3-jinja2 containerd stargz-snapshotter debootstrap\n/,
        );
        assert.match(r.stdout, /would run: npm ci --no-audit --no-fund/);
    });

    it("as a user with sudo, installs through sudo", () => {
        const r = onMachine({ ...DEBIAN, id: "echo 1000", sudo: "exit 0" }, { args: ["--dry-run"] });
        assert.match(r.stdout, /would run: sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker\.io /);
    });

    it("without root or sudo, says the exact apt-get command to ask for, and fails at the end", () => {
        const r = onMachine({ ...DEBIAN, id: "echo 1000" }, { args: ["--dry-run"] });
        assert.equal(r.status, 1);
        assert.doesNotMatch(r.stdout, /would run: .*apt-get/);
        assert.match(
            r.stderr,
            /no root and no sudo here; ask an administrator to run: apt-get update && apt-get install -y --no-install-recommends docker\.io docker-registry busybox-static/,
        );
        assert.match(r.stderr, /npm run setup could not finish everything npm test needs:/);
        assert.match(r.stdout, /would run: npm ci/, "the node packages are installed all the same");
    });

    it("on macOS, names the Homebrew packages and a Docker engine, and where the integration tests run", () => {
        const r = onMachine({ uname: "echo Darwin", id: "echo 501" }, { args: ["--dry-run"] });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /brew install docker colima shellcheck && colima start \(or Docker Desktop instead of colima\)/);
        assert.match(r.stderr, /npm run test:integration needs Linux/);
        assert.match(r.stdout, /would run: npm ci/);
    });

    it("starts dockerd as CI does when root and no daemon answers (detached, no iptables, no bridge, overlay2 on ext4)", () => {
        const r = onMachine(
            { ...DEBIAN, "dpkg-query": "echo 'install ok installed'", docker: "exit 1", dockerd: "exit 0", stat: "echo ext2/ext3" },
            { args: ["--dry-run"] },
        );
        assert.match(
            r.stdout,
            /would start: dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \(detached/,
        );
        assert.equal(r.status, 0, r.output);
    });

    it("starts dockerd with vfs storage where /var/lib is on a file system overlay2 cannot use (here: an overlay)", () => {
        const r = onMachine(
            { ...DEBIAN, "dpkg-query": "echo 'install ok installed'", docker: "exit 1", dockerd: "exit 0", stat: "echo overlayfs" },
            { args: ["--dry-run"] },
        );
        assert.match(r.stdout, /would start: dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \(detached/);
        assert.equal(r.status, 0, r.output);
    });

    it("stops before anything else when node does not fit engines.node, saying how to get one", () => {
        // The real node, reporting itself as 18.20.0.
        const preload = path.join(os.tmpdir(), `truss-setup-node18-${process.pid}.js`);
        fs.writeFileSync(preload, 'Object.defineProperty(process, "version", { value: "v18.20.0" });\n');
        try {
            const r = onMachine({ ...DEBIAN, node: `exec "${process.execPath}" --require "${preload}" "$@"` }, { args: ["--dry-run"] });
            assert.equal(r.status, 1);
            assert.match(r.stderr, /node v18\.20\.0 does not fit engines\.node "\^20\.19\.0 \|\| >=22\.13\.0" in package\.json/);
            assert.match(r.stderr, /nvm install 22/);
            assert.doesNotMatch(r.stdout, /system packages|would run/, "nothing else is done");
        } finally {
            fs.rmSync(preload, { force: true });
        }
    });

    it("without node at all, says so and stops", () => {
        const r = onMachine({ ...DEBIAN, node: null }, { args: ["--dry-run"] });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /node is not installed: install the node version package\.json's engines\.node names/);
        assert.doesNotMatch(r.stdout, /would run/);
    });

    it("refuses an unknown argument, naming the allowed ones", () => {
        const r = onMachine({}, { args: ["--yes"] });
        assert.equal(r.status, 2);
        assert.match(r.stderr, /unknown argument: --yes \(allowed: --dry-run, --help\)/);
    });
});
