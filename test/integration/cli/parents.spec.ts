// npm run parents against a real registry on loopback (token auth, anonymous pulls allowed, as on
// Docker Hub): the stack's `parents` overrides point every parent of the catalog at it.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { runParents } from "../../../src/cli/parents";
import { runPlan } from "../../../src/cli/plan";
import { allCatalogParents, loadCatalog } from "../../../src/images/catalog";
import { lockPath, readParentLock, writeParentLock } from "../../../src/images/parentLock";
import { anonymousClients, ClientFor, splitParent } from "../../../src/publish/parentPins";
import { DEFAULT_USER, startRegistry, TestRegistry } from "../../support/registry";
import { pushImage } from "../../support/registryImages";
import { RegistryClient } from "../../../src/registry";
import { copyImages, tempDir } from "../../support/fixtures";

type Out = { code: number; stdout: string; stderr: string };

interface Setup {
    /** Catalog parent -> the loopback reference the stack builds FROM instead. */
    overrides: Record<string, string>;
    /** Loopback reference -> digest of the index pushed under its tag. */
    pushed: Map<string, string>;
    imagesDir: string;
    projectDir: string;
    parents(argv: string[], clientFor?: ClientFor): Promise<Out>;
    plan(): Promise<{ image: string; contentDigest: string; parent: string }[]>;
    /** Pushes a new index under a loopback parent's tag; returns its digest. */
    repush(ref: string, text: string): Promise<string>;
    /** Path of a loopback parent's repository in the registry's storage. */
    storage(ref: string): string;
}

describe("npm run parents (stub parent indexes in a loopback registry with anonymous token auth)", function () {
    this.timeout(120_000);
    let registry: TestRegistry;
    const seeder = () => ({ url: registry.url, credentials: DEFAULT_USER });
    before(async () => {
        registry = await startRegistry({ auth: "token", anonymousPull: true });
    });
    after(async () => {
        await registry?.stop();
    });

    async function setup(name: string): Promise<Setup> {
        const repoCatalog = loadCatalog();
        const overrides: Record<string, string> = {};
        const pushed = new Map<string, string>();
        for (const ref of allCatalogParents(repoCatalog)) {
            const { repository, tag } = splitParent(ref);
            const repo = `${name}/${repository.slice("docker.io/".length)}`;
            const local = `${registry.host}/${repo}:${tag}`;
            overrides[ref] = local;
            const m = await pushImage(seeder(), repo, tag, { labels: {}, index: true, layerText: `${ref} first push` });
            pushed.set(local, m.digest);
        }
        const imagesDir = copyImages();
        const projectDir = tempDir("project");
        const config = {
            versionTag: "v1.0.0",
            registry: { server: registry.host, namespace: name },
            matrix: { jobTypes: ["server", "training"], pythonVersions: ["3.9", "3.10"], gpu: [false, true], liveReload: [false] },
            builders: { mode: "local" },
            parents: overrides,
        };
        const entries = Object.fromEntries(Object.entries(config).map(([k, v]) => [`truss-base-images:${k}`, v]));
        fs.writeFileSync(path.join(projectDir, "Pulumi.t.yaml"), YAML.stringify({ config: entries }));
        const io = (out: Out, clientFor?: ClientFor) => ({
            clientFor,
            projectDir,
            imagesDir,
            env: {},
            stdout: (t: string) => (out.stdout += t),
            stderr: (t: string) => (out.stderr += t),
            now: () => new Date("2026-11-30T10:00:00Z"),
        });
        return {
            overrides,
            pushed,
            imagesDir,
            projectDir,
            async parents(argv, clientFor) {
                const out = { code: 0, stdout: "", stderr: "" };
                out.code = await runParents(["--stack", "t", ...argv], io(out, clientFor));
                return out;
            },
            async plan() {
                const out = { code: 0, stdout: "", stderr: "" };
                out.code = await runPlan(["--stack", "t", "--json"], io(out));
                assert.equal(out.code, 0, out.stderr);
                return JSON.parse(out.stdout);
            },
            async repush(ref, text) {
                const { repository, tag } = splitParent(ref);
                const repo = repository.slice(registry.host.length + 1);
                return (await pushImage(seeder(), repo, tag, { labels: {}, index: true, layerText: text })).digest;
            },
            storage(ref) {
                const repo = splitParent(ref).repository.slice(registry.host.length + 1);
                return path.join(registry.dataDir, "docker", "registry", "v2", "repositories", repo, "_manifests");
            },
        };
    }

    it("lists every parent unpinned; --update pins each to its index digest; --check then finds nothing moved (exit 0)", async () => {
        const s = await setup("pin");
        const py39 = s.overrides["python:3.9"];
        const listed = await s.parents([]);
        assert.equal(listed.code, 0, listed.stderr);
        assert.match(
            listed.stdout,
            new RegExp(`^${escape(py39)}\\s+unpinned\\s+truss-server-base:3\\.9-v1\\.0\\.0, truss-training-base:3\\.9-v1\\.0\\.0$`, "m"),
        );
        assert.match(
            listed.stdout,
            new RegExp(`^${escape(s.overrides["python:3.12"])}\\s+unpinned\\s+no image of this stack \\(4 of the catalog\\)$`, "m"),
        );

        const listedJson = JSON.parse((await s.parents(["--json"])).stdout);
        assert.equal(listedJson.updated, null);
        assert.deepEqual(
            listedJson.parents.find((p: { reference: string }) => p.reference === py39),
            {
                reference: py39,
                pinned: null,
                images: [`${registry.host}/pin/truss-server-base:3.9-v1.0.0`, `${registry.host}/pin/truss-training-base:3.9-v1.0.0`],
                catalogImages: 4,
            },
        );
        const both = await s.parents(["--check", "--update"]);
        assert.equal(both.code, 2);
        assert.match(both.stderr, /--check and --update cannot be given together/);

        const before = registry.tokenServer!.requests.length;
        const updated = await s.parents(["--update"]);
        assert.equal(updated.code, 0, updated.stdout + updated.stderr);
        assert.match(updated.stdout, /8 lines changed/);
        const lock = readParentLock(s.imagesDir);
        assert.equal(lock.updated, "2026-11-30");
        for (const [ref, digest] of s.pushed) assert.equal(lock.pins.get(ref), digest, ref);
        const tokenRequests = registry.tokenServer!.requests.slice(before);
        assert.ok(tokenRequests.length > 0, "the registry asked for a token");
        assert.ok(
            tokenRequests.every((r) => r.account === undefined && r.granted),
            "every token was asked for anonymously",
        );
        const text = fs.readFileSync(lockPath(s.imagesDir), "utf8");
        assert.ok(text.includes(`  ${JSON.stringify(py39)}: ${s.pushed.get(py39)}\n`), text);

        const clients = new Map<string, ReturnType<ClientFor>>();
        const counting: ClientFor = (server) => {
            const c = clients.get(server) ?? anonymousClients()(server);
            clients.set(server, c);
            return c;
        };
        const checked = await s.parents(["--check"], counting);
        assert.equal(checked.code, 0, checked.stdout + checked.stderr);
        assert.equal(clients.get(registry.host)?.stats.byOperation.manifest, 8, "one manifest request per pinned parent");
        assert.match(checked.stdout, /^8 parents: 8 unchanged$/m, "the overridden catalog references are no image's parent: not asked");
        const json = JSON.parse((await s.parents(["--check", "--json"])).stdout);
        assert.equal(json.exitCode, 0);
        assert.deepEqual(json.parents.find((p: { reference: string }) => p.reference === py39).current, s.pushed.get(py39));
    });

    it("a parent re-pushed upstream: the plan keeps its digests, --check exits 4 listing both digests and the images to rebuild, and after --update exactly those images' content digests change", async () => {
        const s = await setup("move");
        assert.equal((await s.parents(["--update"])).code, 0);
        const lockBefore = fs.readFileSync(lockPath(s.imagesDir), "utf8");
        const planBefore = await s.plan();
        const py39 = s.overrides["python:3.9"];
        for (const item of planBefore) assert.match(item.parent, /@sha256:[0-9a-f]{64}$/, item.image);

        const moved = await s.repush(py39, "python 3.9 security fix");
        assert.notEqual(moved, s.pushed.get(py39));
        assert.deepEqual(await s.plan(), planBefore, "the plan reads the lock, never the registry's tags");

        const checked = await s.parents(["--check"]);
        assert.equal(checked.code, 4, checked.stdout + checked.stderr);
        const rebuild = planBefore.filter((i) => /:3\.9-v1\.0\.0$/.test(i.image)).map((i) => i.image);
        assert.equal(rebuild.length, 2);
        assert.ok(
            checked.stdout.includes(
                [
                    `moved: ${py39}`,
                    `    pinned   ${s.pushed.get(py39)}`,
                    `    now      ${moved}`,
                    `    rebuilds 2 images: ${rebuild.join(", ")}`,
                ].join("\n"),
            ),
            checked.stdout,
        );
        assert.equal(fs.readFileSync(lockPath(s.imagesDir), "utf8"), lockBefore, "--check writes nothing");

        const updated = await s.parents(["--update"]);
        assert.equal(updated.code, 0, updated.stdout);
        assert.match(updated.stdout, /1 line changed/);
        const a = lockBefore.split("\n");
        const b = fs.readFileSync(lockPath(s.imagesDir), "utf8").split("\n");
        const differing = a.flatMap((line, i) => (line === b[i] ? [] : [b[i]]));
        assert.deepEqual(differing, [`  ${JSON.stringify(py39)}: ${moved}`], "only the moved parent's line (updated was already today)");

        const planAfter = await s.plan();
        const changed = planAfter.filter((item, i) => item.contentDigest !== planBefore[i].contentDigest).map((i) => i.image);
        assert.deepEqual(changed, rebuild);
        for (const item of planAfter.filter((i) => rebuild.includes(i.image))) assert.equal(item.parent, `${py39}@${moved}`);
    });

    it("a tag deleted upstream: --check exits 4 naming the pinned digest that still builds; with that digest gone too, exit 1", async () => {
        const s = await setup("gone");
        assert.equal((await s.parents(["--update"])).code, 0);
        const py310 = s.overrides["python:3.10"];
        const cuda = s.overrides["nvidia/cuda:12.8.1-base-ubuntu22.04"];
        fs.rmSync(path.join(s.storage(py310), "tags", "3.10"), { recursive: true });

        const tagGone = await s.parents(["--check"]);
        assert.equal(tagGone.code, 4, tagGone.stdout + tagGone.stderr);
        assert.ok(
            tagGone.stdout.includes(
                `tag gone upstream: ${py310}\n    pinned   ${s.pushed.get(py310)} (still served: the images still build from it)`,
            ),
            tagGone.stdout,
        );

        fs.rmSync(path.join(s.storage(cuda), "tags", "12.8.1-base-ubuntu22.04"), { recursive: true });
        fs.rmSync(path.join(s.storage(cuda), "revisions", "sha256", s.pushed.get(cuda)!.slice("sha256:".length)), { recursive: true });
        const gone = await s.parents(["--check"]);
        assert.equal(gone.code, 1, gone.stdout + gone.stderr);
        assert.ok(gone.stdout.includes(`gone upstream: ${cuda}\n    pinned   ${s.pushed.get(cuda)} is not served either`), gone.stdout);
        assert.match(gone.stdout, /affects 4 images/);

        const lockBefore = fs.readFileSync(lockPath(s.imagesDir), "utf8");
        const updated = await s.parents(["--update"]);
        assert.equal(updated.code, 1, "--update cannot pin what is gone");
        assert.equal(fs.readFileSync(lockPath(s.imagesDir), "utf8"), lockBefore, "the pins of gone tags are kept as they were");
    });

    it("npm run plan warns about each unpinned parent with the command that pins it, and about a lock older than 30 days", async () => {
        const s = await setup("warn");
        const planAt = async (now: string) => {
            const out = { code: 0, stdout: "", stderr: "" };
            out.code = await runPlan(["--stack", "t"], {
                projectDir: s.projectDir,
                imagesDir: s.imagesDir,
                env: {},
                stdout: (t) => (out.stdout += t),
                stderr: (t) => (out.stderr += t),
                now: () => new Date(now),
            });
            assert.equal(out.code, 0, out.stderr);
            return out.stderr.split("\n").filter((l) => l.startsWith("warning:"));
        };
        const unpinned = await planAt("2026-11-30T12:00:00Z");
        assert.equal(unpinned.length, 3, unpinned.join("\n"));
        for (const ref of ["python:3.9", "python:3.10", "nvidia/cuda:12.8.1-base-ubuntu22.04"]) {
            assert.ok(
                unpinned.some(
                    (w) =>
                        w.startsWith(`warning: parent ${s.overrides[ref]} is not pinned`) &&
                        w.includes("npm run parents -- --stack t --update"),
                ),
                unpinned.join("\n"),
            );
        }
        assert.equal((await s.parents(["--update"])).code, 0);
        assert.deepEqual(await planAt("2026-12-30T12:00:00Z"), [], "30 days old: no warning");
        const old = await planAt("2026-12-31T12:00:00Z");
        assert.deepEqual(old, [
            "warning: images/parents.lock was last updated 2026-11-30 (31 days ago, more than 30); see what moved upstream with `npm run parents -- --stack t --check`",
        ]);
    });

    it("--update pins the sha256 of the manifest bytes: a Docker-Content-Digest header that disagrees is refused (exit 1, nothing written)", async () => {
        const s = await setup("lying");
        const lockBefore = fs.readFileSync(lockPath(s.imagesDir), "utf8");
        const py39 = s.overrides["python:3.9"];
        const tag = splitParent(py39);
        const forged = `sha256:${"f".repeat(64)}`;
        // A registry (or something between) that names another digest than the bytes it sends, for one parent.
        const lying: typeof fetch = async (input, init) => {
            const res = await fetch(input, init);
            if (!String(input).endsWith(`/${tag.repository.slice(registry.host.length + 1)}/manifests/${tag.tag}`)) return res;
            const headers = new Headers(res.headers);
            headers.set("docker-content-digest", forged);
            const body = init?.method === "HEAD" ? null : Buffer.from(await res.arrayBuffer());
            return new Response(body, { status: res.status, statusText: res.statusText, headers });
        };
        const clients = new Map<string, RegistryClient>();
        const clientFor: ClientFor = (server) => {
            if (!clients.has(server)) clients.set(server, new RegistryClient({ server, fetch: lying }));
            return clients.get(server) as RegistryClient;
        };
        const updated = await s.parents(["--update"], clientFor);
        assert.equal(updated.code, 1, updated.stdout + updated.stderr);
        assert.match(
            updated.stderr,
            new RegExp(
                `was not changed: 1 of 8 parents could not be resolved.*\\n  - ${escape(py39)}: .*the registry says the manifest is ${forged} but its bytes have digest ${escape(s.pushed.get(py39)!)}`,
            ),
        );
        assert.equal(
            fs.readFileSync(lockPath(s.imagesDir), "utf8"),
            lockBefore,
            "nothing was written, not even the seven parents that resolved",
        );
        assert.ok(!fs.readFileSync(lockPath(s.imagesDir), "utf8").includes(forged));

        // The same registry telling the truth: every parent is pinned to the digest of its bytes.
        const honest = await s.parents(["--update"]);
        assert.equal(honest.code, 0, honest.stdout + honest.stderr);
        const pins = readParentLock(s.imagesDir).pins;
        for (const [ref, digest] of s.pushed) assert.equal(pins.get(ref), digest);
    });

    it("--update with one parent's registry unreachable: exit 1 naming that parent and why, and the lock is left whole (nothing written)", async () => {
        const s = await setup("partial");
        const nowhere = "127.0.0.1:9/library/python:3.9";
        const projectDir = tempDir("project");
        const config = {
            "truss-base-images:versionTag": "v1",
            "truss-base-images:registry": { server: registry.host, namespace: "partial" },
            "truss-base-images:matrix": { jobTypes: ["server"], pythonVersions: ["3.9", "3.10"], gpu: [false], liveReload: [false] },
            "truss-base-images:builders": { mode: "local" },
            "truss-base-images:parents": { ...s.overrides, "python:3.9": nowhere },
        };
        fs.writeFileSync(path.join(projectDir, "Pulumi.t.yaml"), YAML.stringify({ config }));
        const lockBefore = fs.readFileSync(lockPath(s.imagesDir), "utf8");
        for (const json of [false, true]) {
            const out = { code: 0, stdout: "", stderr: "" };
            out.code = await runParents(["--stack", "t", "--update", ...(json ? ["--json"] : [])], {
                projectDir,
                imagesDir: s.imagesDir,
                env: {},
                stdout: (t) => (out.stdout += t),
                stderr: (t) => (out.stderr += t),
            });
            assert.equal(out.code, 1, out.stdout + out.stderr);
            assert.match(
                out.stderr,
                new RegExp(`could not be resolved, and the lock is updated only as a whole:\\n  - ${escape(nowhere)}: .*127\\.0\\.0\\.1:9`),
            );
            assert.equal(fs.readFileSync(lockPath(s.imagesDir), "utf8"), lockBefore, "the parents that resolved were not written either");
            if (json) {
                const parsed = JSON.parse(out.stdout);
                assert.equal(parsed.written, false);
                assert.equal(parsed.exitCode, 1);
            }
        }
    });

    it("a registry that does not answer: --check exits 1 and names the parent and the registry", async () => {
        const s = await setup("down");
        const lock = readParentLock(s.imagesDir);
        const nowhere = "127.0.0.1:9/library/python:3.9";
        writeParentLock(s.imagesDir, { updated: "2026-11-01", pins: new Map([...lock.pins, [nowhere, `sha256:${"0".repeat(64)}`]]) });
        // The stack builds python:3.9 from a port nothing listens on.
        const out = { code: 0, stdout: "", stderr: "" };
        const projectDir = tempDir("project");
        const config = {
            "truss-base-images:versionTag": "v1",
            "truss-base-images:registry": { server: registry.host, namespace: "down" },
            "truss-base-images:matrix": { jobTypes: ["server"], pythonVersions: ["3.9"], gpu: [false], liveReload: [false] },
            "truss-base-images:builders": { mode: "local" },
            "truss-base-images:parents": { ...s.overrides, "python:3.9": nowhere },
        };
        fs.writeFileSync(path.join(projectDir, "Pulumi.t.yaml"), YAML.stringify({ config }));
        out.code = await runParents(["--stack", "t", "--check"], {
            projectDir,
            imagesDir: s.imagesDir,
            env: {},
            stdout: (t) => (out.stdout += t),
            stderr: (t) => (out.stderr += t),
        });
        assert.equal(out.code, 1, out.stdout + out.stderr);
        assert.match(out.stdout, new RegExp(`^could not check ${escape(nowhere)}: .*127\\.0\\.0\\.1:9`, "m"));
    });
});

function escape(s: string): string {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
