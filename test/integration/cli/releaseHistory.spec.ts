// The release gate replayed on a Truss history made here with git, commit by commit, against a
// real registry on loopback: one whose tags carry no content label (as Docker Hub's, published by
// Truss's own script) and one whose tags do (published by this program); and a shallow clone.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { runReleaseCheck } from "../../../src/cli/releaseCheck";
import { runPlan } from "../../../src/cli/plan";
import { loadStack } from "../../../src/config/definition";
import { SECRET_PRESENT } from "../../../src/config/stackConfig";
import { LABELS } from "../../../src/images/labels";
import { planImages } from "../../../src/publish/plannedImages";
import { startRegistry, TestRegistry } from "../../support/registry";
import { pushImage } from "../../support/registryImages";
import { SERVER_REQUIREMENTS, short, TEMPLATE, TrussRepo, VERSION_TAG_FILE } from "../../support/trussGit";

function project(config: Record<string, unknown>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "truss-release-history-"));
    const entries = Object.fromEntries(Object.entries(config).map(([k, v]) => [`truss-base-images:${k}`, v]));
    fs.writeFileSync(path.join(dir, "Pulumi.t.yaml"), YAML.stringify({ config: entries }));
    return dir;
}

async function run(cli: typeof runReleaseCheck, argv: string[], projectDir: string) {
    let stdout = "";
    let stderr = "";
    const code = await cli(argv, { projectDir, env: {}, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    return { code, stdout, stderr };
}

type Check = {
    code: number;
    stdout: string;
    stderr: string;
    json: {
        verdict: string;
        exitCode: number;
        drift: boolean;
        explanation: string;
        versionTagFile: string;
        versionTagCommit: { tag: string; commit: string } | null;
        previous: { tag: string; commit: string } | null;
        changes: {
            input: string;
            path: string;
            since: { tag: string; commit: string };
            commits: string[];
            images?: string[];
            requirements?: { added: string[]; removed: string[]; changed: { name: string; from: string; to: string }[] };
            pythonVersions?: { added: string[]; removed: string[] };
        }[];
        images: { tag: string; action: string; source?: string; contentFrom: string; history?: { tag: string; commit: string } }[];
    };
};

let namespaces = 0;

describe("release-check replayed on a Truss git history (real registry on loopback)", function () {
    this.timeout(120_000);
    let registry: TestRegistry;
    before(async () => {
        registry = await startRegistry();
    });
    after(async () => {
        await registry?.stop();
    });

    function stack(checkout: string, namespace: string): Record<string, unknown> {
        return {
            truss: { checkout },
            registry: { server: registry.host, namespace },
            matrix: { jobTypes: ["server"], pythonVersions: ["3.9", "3.10"], gpu: [false, true], liveReload: [false] },
            builders: { mode: "local" },
        };
    }

    /** Publishes every image the checkout defines now, with or without the content label. */
    async function publish(checkout: string, namespace: string, labelled: boolean): Promise<void> {
        const { config, catalog } = loadStack(
            { ...stack(checkout, namespace), registryPassword: SECRET_PRESENT },
            { projectDir: "/", source: "test" },
        );
        for (const image of planImages(config, catalog)) {
            await pushImage({ url: registry.url }, image.repository.slice(registry.host.length + 1), image.tag, {
                labels: labelled ? { [LABELS.contentDigest]: image.contentDigest } : {},
                layerText: `${image.reference} ${image.contentDigest}`,
            });
        }
    }

    async function check(checkout: string, namespace: string, ...argv: string[]): Promise<Check> {
        const dir = project(stack(checkout, namespace));
        const json = await run(runReleaseCheck, ["--stack", "t", "--json", ...argv], dir);
        const text = await run(runReleaseCheck, ["--stack", "t", ...argv], dir);
        assert.equal(text.code, json.code, "text and --json agree on the exit code");
        return {
            code: json.code,
            stdout: text.stdout,
            stderr: json.stderr + text.stderr,
            json: json.code === 1 ? (undefined as never) : JSON.parse(json.stdout),
        };
    }

    describe("tags without a content label (as on Docker Hub): the tag's content is the checkout at the commit that set it", () => {
        const ns = `hist${++namespaces}`;
        let repo: TrussRepo;
        let c1: string;
        let pin: string;
        let bump: string;

        before(async () => {
            repo = TrussRepo.create("v0.12.0");
            c1 = repo.head();
            repo.docsCommits(3);
            await publish(repo.dir, ns, false);
        });

        it("at the commit that set v0.12.0 and after docs-only commits: up-to-date (exit 0), judged by history", async () => {
            const out = await check(repo.dir, ns);
            assert.equal(out.code, 0, out.stdout + out.stderr);
            assert.equal(out.json.verdict, "up-to-date");
            assert.deepEqual(out.json.versionTagCommit, { tag: "v0.12.0", commit: short(c1) });
            for (const i of out.json.images) {
                assert.equal(i.action, "unchanged");
                assert.equal(i.contentFrom, "history");
                assert.deepEqual(i.history, { tag: "v0.12.0", commit: short(c1) });
            }
            assert.deepEqual(out.json.changes, []);
            assert.equal(out.json.versionTagFile, path.join(repo.dir, VERSION_TAG_FILE));
            assert.match(out.json.explanation, new RegExp(`the checkout at ${short(c1)}, which set v0\\.12\\.0, defined the same images`));
            assert.match(out.stdout, /^up-to-date: Every image of v0\.12\.0 is published with exactly this content/m);
        });

        it("a pin changed under the same tag: bump-needed (exit 3) naming the tag, its commit, the commit that changed it and the pin", async () => {
            repo.edit(SERVER_REQUIREMENTS, "numpy>=1.23.5,<2.0  # pinned below 2", "numpy>=1.26.4,<2.0");
            repo.edit(SERVER_REQUIREMENTS, "pyyaml>=6.0.0\n", "pyyaml>=6.0.0\nhttpx==0.27.0\n");
            pin = repo.commit("Pin numpy, add httpx");
            repo.docsCommits(2);
            const out = await check(repo.dir, ns);
            assert.equal(out.code, 3, out.stdout + out.stderr);
            assert.equal(out.json.verdict, "bump-needed");
            assert.equal(out.json.drift, true);
            assert.deepEqual(
                out.json.images.map((i) => `${i.tag} ${i.action} ${i.contentFrom}`),
                [
                    "3.9-v0.12.0 conflict history",
                    "3.9-gpu-v0.12.0 conflict history",
                    "3.10-v0.12.0 conflict history",
                    "3.10-gpu-v0.12.0 conflict history",
                ],
            );
            assert.equal(out.json.changes.length, 1);
            const [change] = out.json.changes;
            assert.equal(change.input, "requirements");
            assert.equal(change.path, SERVER_REQUIREMENTS);
            assert.deepEqual(change.since, { tag: "v0.12.0", commit: short(c1) });
            assert.deepEqual(change.commits, [short(pin)]);
            assert.deepEqual(change.requirements, {
                added: ["httpx==0.27.0"],
                removed: [],
                changed: [{ name: "numpy", from: "numpy>=1.23.5,<2.0", to: "numpy>=1.26.4,<2.0" }],
                options: { added: [], removed: [] },
            });
            assert.match(
                out.json.explanation,
                new RegExp(`Changed since v0\\.12\\.0 \\(set in ${short(c1)}\\): ${SERVER_REQUIREMENTS} \\(commit ${short(pin)}\\)`),
            );
            assert.match(
                out.json.explanation,
                new RegExp(`Bump TRUSS_BASE_IMAGE_VERSION_TAG \\(${path.join(repo.dir, VERSION_TAG_FILE).replace(/[.]/g, "\\.")}\\)`),
            );
            assert.match(out.stdout, /changed  numpy>=1\.23\.5,<2\.0 -> numpy>=1\.26\.4,<2\.0/);
            assert.match(out.stdout, /added    httpx==0\.27\.0/);
        });

        it("--policy advisory: the same drift, reported in full, exits 0", async () => {
            const out = await check(repo.dir, ns, "--policy", "advisory");
            assert.equal(out.code, 0, out.stdout + out.stderr);
            assert.equal(out.json.verdict, "bump-needed");
            assert.equal(out.json.exitCode, 0);
            assert.equal(out.json.changes.length, 1);
            assert.match(out.json.explanation, /Policy advisory: this drift is reported and the check passes \(exit 0\)/);
        });

        it("the bump to v0.13.0: publish (exit 2), saying what changed since v0.12.0 and in which commit", async () => {
            bump = repo.setTag("v0.13.0") as string;
            const out = await check(repo.dir, ns);
            assert.equal(out.code, 2, out.stdout + out.stderr);
            assert.equal(out.json.verdict, "publish");
            assert.deepEqual(out.json.versionTagCommit, { tag: "v0.13.0", commit: short(bump) });
            assert.deepEqual(out.json.previous, { tag: "v0.12.0", commit: short(c1) });
            assert.deepEqual(
                out.json.changes.map((c) => [c.path, c.since.tag, c.commits]),
                [[SERVER_REQUIREMENTS, "v0.12.0", [short(pin)]]],
            );
            assert.match(out.json.explanation, /will build 4 and re-tag 0/);
        });

        it("published label-less as v0.13.0, then a bump to v0.14.0 with no content change: needless-bump (exit 3) naming v0.13.0", async () => {
            await publish(repo.dir, ns, false);
            assert.equal((await check(repo.dir, ns)).json.verdict, "up-to-date");
            repo.setTag("v0.14.0");
            const out = await check(repo.dir, ns);
            assert.equal(out.code, 3, out.stdout + out.stderr);
            assert.equal(out.json.verdict, "needless-bump");
            for (const i of out.json.images) {
                assert.equal(i.action, "retag");
                assert.equal(i.contentFrom, "history");
                assert.match(i.source as string, /-v0\.13\.0$/);
            }
            assert.match(out.json.explanation, /every image equals one already published \(v0\.13\.0\)/);
            assert.match(
                out.json.explanation,
                new RegExp(`the checkout at ${short(bump)}, which set v0\\.13\\.0, defined the same images`),
            );
            repo.setTag("v0.13.0");
        });

        it("a template change under the same tag: bump-needed naming the rendered images that differ and the lines", async () => {
            repo.edit(TEMPLATE, "libcublas-12-8 \\", "libcublas-12-8 libcufft-12-8 \\");
            const edit = repo.commit("GPU images get cuFFT");
            const out = await check(repo.dir, ns);
            assert.equal(out.code, 3, out.stdout + out.stderr);
            assert.deepEqual(
                out.json.images.map((i) => `${i.tag} ${i.action}`),
                ["3.9-v0.13.0 unchanged", "3.9-gpu-v0.13.0 conflict", "3.10-v0.13.0 unchanged", "3.10-gpu-v0.13.0 conflict"],
            );
            const [change] = out.json.changes;
            assert.equal(change.input, "template");
            assert.deepEqual(change.images, ["server 3.9-gpu", "server 3.10-gpu"]);
            assert.deepEqual(change.commits, [short(edit)]);
            assert.match(out.stdout, /\+ +libcublas-12-8 libcufft-12-8 \\/);
        });

        it("a shallow clone (CI's fetch-depth: 1): one error saying to fetch the full history, no verdict", async () => {
            const shallow = repo.shallowClone();
            const dir = project(stack(shallow, ns));
            const out = await run(runReleaseCheck, ["--stack", "t", "--json"], dir);
            assert.equal(out.code, 1);
            assert.equal(out.stdout, "");
            assert.match(out.stderr, /is a shallow clone/);
            assert.match(out.stderr, /fetch-depth: 0/);
            assert.equal(out.stderr.trim().split("\n").length, 1, out.stderr);
        });

        it("a full clone gives the same verdict as the repository itself", async () => {
            const out = await check(repo.clone(), ns);
            assert.equal(out.json.verdict, "bump-needed");
        });

        it("plan reports what history says of each tag without a label, and still the conflict pulumi up would stop on", async () => {
            const dir = project({ ...stack(repo.dir, ns), immutableTags: true });
            const out = await run(runPlan, ["--stack", "t", "--json"], dir);
            assert.equal(out.code, 1);
            const items = JSON.parse(out.stdout) as {
                tag: string;
                action: string;
                history?: { tag: string; commit: string; sameContent: boolean };
            }[];
            assert.deepEqual(
                items.map((i) => `${i.tag} ${i.action} ${i.history?.sameContent}`),
                [
                    "3.9-v0.13.0 conflict true",
                    "3.9-gpu-v0.13.0 conflict false",
                    "3.10-v0.13.0 conflict true",
                    "3.10-gpu-v0.13.0 conflict false",
                ],
            );
        });
    });

    describe("tags with a content label (published by this program): the label wins", () => {
        const ns = `hist${++namespaces}`;
        let repo: TrussRepo;

        before(async () => {
            repo = TrussRepo.create("v0.12.0");
            await publish(repo.dir, ns, true);
        });

        it("docs-only: up-to-date by label", async () => {
            repo.docsCommits(1);
            const out = await check(repo.dir, ns);
            assert.equal(out.code, 0, out.stdout + out.stderr);
            for (const i of out.json.images) assert.equal(i.contentFrom, "label");
        });

        it("a pin changed under a labelled tag: bump-needed with what changed; --policy advisory still exits 3 (not drift)", async () => {
            repo.edit(SERVER_REQUIREMENTS, "aiofiles>=24.1.0\n", "");
            const removal = repo.commit("Drop aiofiles");
            const out = await check(repo.dir, ns);
            assert.equal(out.code, 3);
            assert.equal(out.json.drift, false);
            assert.deepEqual(out.json.changes[0].requirements?.removed, ["aiofiles>=24.1.0"]);
            assert.deepEqual(out.json.changes[0].commits, [short(removal)]);
            const advisory = await check(repo.dir, ns, "--policy", "advisory");
            assert.equal(advisory.code, 3);
        });

        it("a labelled registry needs no history: a shallow clone gets its verdict", async () => {
            const out = await check(repo.shallowClone(), ns);
            assert.equal(out.code, 3, out.stdout + out.stderr);
            assert.equal(out.json.verdict, "bump-needed");
            assert.deepEqual(out.json.changes, []);
        });

        it("bump with no change after publishing: needless-bump by label", async () => {
            repo.setTag("v0.13.0");
            await publish(repo.dir, ns, true);
            repo.setTag("v0.14.0");
            const out = await check(repo.dir, ns);
            assert.equal(out.json.verdict, "needless-bump");
            for (const i of out.json.images) assert.equal(i.contentFrom, "label");
        });
    });
});
