// `npm run release-check` against a real registry, on fixture Truss checkouts: every verdict
// with its exit code, --json, the pyproject warning, and bad input.
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
import { writeTrussCheckout } from "../../support/trussCheckouts";

/** A project folder with one stack file. */
function project(config: Record<string, unknown>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "truss-release-check-"));
    const entries = Object.fromEntries(Object.entries(config).map(([k, v]) => [`truss-base-images:${k}`, v]));
    fs.writeFileSync(path.join(dir, "Pulumi.t.yaml"), YAML.stringify({ config: entries }));
    return dir;
}

type Cli = (argv: string[], io: Parameters<typeof runReleaseCheck>[1]) => Promise<number>;
async function run(cli: Cli, argv: string[], projectDir: string) {
    let stdout = "";
    let stderr = "";
    const code = await cli(argv, { projectDir, env: {}, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    return { code, stdout, stderr };
}
const check = (argv: string[], dir: string) => run(runReleaseCheck, ["--stack", "t", ...argv], dir);

let namespaces = 0;

describe("npm run release-check (a real registry, fixture Truss checkouts)", function () {
    this.timeout(60_000);
    let registry: TestRegistry;
    before(async () => {
        registry = await startRegistry();
    });
    after(async () => {
        await registry?.stop();
    });

    /** A stack of server images for python 3.9 and 3.10, cpu and gpu, in a namespace of its own. */
    function stack(checkout: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
        return {
            truss: { checkout },
            registry: { server: registry.host, namespace: `rc${++namespaces}` },
            matrix: { jobTypes: ["server"], pythonVersions: ["3.9", "3.10"], gpu: [false, true], liveReload: [false] },
            builders: { mode: "local" },
            ...extra,
        };
    }

    /** Publishes, straight through the registry API, each planned image with its content digest label. */
    async function publish(config: Record<string, unknown>, only?: (tag: string) => boolean): Promise<void> {
        const { config: parsed, catalog } = loadStack({ ...config, registryPassword: SECRET_PRESENT }, { projectDir: "/", source: "test" });
        for (const image of planImages(parsed, catalog)) {
            if (only && !only(image.tag)) continue;
            await pushImage({ url: registry.url }, image.repository.slice(registry.host.length + 1), image.tag, {
                labels: { [LABELS.contentDigest]: image.contentDigest },
                layerText: image.reference,
            });
        }
    }

    function setTag(checkout: string, tag: string): void {
        const file = path.join(checkout, "truss/contexts/image_builder/util.py");
        fs.writeFileSync(
            file,
            fs.readFileSync(file, "utf8").replace(/TRUSS_BASE_IMAGE_VERSION_TAG = ".*"/, `TRUSS_BASE_IMAGE_VERSION_TAG = "${tag}"`),
        );
    }

    it("publish (exit 2): nothing of the tag is published yet; says pulumi up will build N and re-tag M", async () => {
        const out = await check([], project(stack(writeTrussCheckout("today"))));
        assert.equal(out.code, 2, out.stderr);
        assert.match(out.stdout, /^publish: .*`pulumi up` will build 4 and re-tag 0/m);
    });

    it("up-to-date (exit 0): every image of the tag is published with exactly this content; --json shape", async () => {
        const config = stack(writeTrussCheckout("today"));
        await publish(config);
        const out = await check(["--json"], project(config));
        assert.equal(out.code, 0, out.stderr);
        const result = JSON.parse(out.stdout);
        assert.deepEqual(Object.keys(result).sort(), [
            "changes",
            "drift",
            "exitCode",
            "explanation",
            "historyNote",
            "images",
            "policy",
            "previous",
            "verdict",
            "versionTag",
            "versionTagCommit",
            "versionTagFile",
            "warnings",
        ]);
        assert.match(result.explanation, /^Every image of v0\.13\.0 is published with exactly this content/);
        assert.equal(
            result.versionTagFile,
            path.join((config.truss as { checkout: string }).checkout, "truss/contexts/image_builder/util.py"),
        );
        assert.match(result.historyNote, /has no git history to read/, "a folder without git: nothing to list, and no tag needed it");
        assert.equal(result.verdict, "up-to-date");
        assert.equal(result.versionTag, "v0.13.0");
        assert.equal(result.images.length, 4);
        for (const item of result.images) assert.equal(item.action, "unchanged");
        // pyproject.toml says 0.18.0: Truss versions its package apart from its base images.
        assert.deepEqual(result.warnings, []);
    });

    it("bump-needed (exit 3): the GPU branch of the template changed under a published tag", async () => {
        const checkout = writeTrussCheckout("today");
        const config = stack(checkout);
        await publish(config);
        const template = path.join(checkout, "docker/base_images/base_image.Dockerfile.jinja");
        fs.writeFileSync(template, fs.readFileSync(template, "utf8").replace("libcublas-12-8 \\", "libcublas-12-8 libcufft-12-8 \\"));
        const out = await check(["--json"], project(config));
        assert.equal(out.code, 3, out.stderr);
        const result = JSON.parse(out.stdout);
        assert.equal(result.verdict, "bump-needed");
        assert.deepEqual(
            result.images.map((i: { tag: string; action: string }) => `${i.tag} ${i.action}`),
            ["3.9-v0.13.0 unchanged", "3.9-gpu-v0.13.0 conflict", "3.10-v0.13.0 unchanged", "3.10-gpu-v0.13.0 conflict"],
        );
        const text = await check([], project(config));
        assert.match(text.stdout, /^bump-needed: 2 tags of v0\.13\.0 already hold other content.*Bump TRUSS_BASE_IMAGE_VERSION_TAG/m);
    });

    it("then, after the bump: publish (exit 2) building the changed GPU images and re-tagging the CPU ones", async () => {
        const checkout = writeTrussCheckout("today");
        const config = stack(checkout);
        await publish(config);
        const template = path.join(checkout, "docker/base_images/base_image.Dockerfile.jinja");
        fs.writeFileSync(template, fs.readFileSync(template, "utf8").replace("libcublas-12-8 \\", "libcublas-12-8 libcufft-12-8 \\"));
        setTag(checkout, "v0.14.0");
        const out = await check([], project(config));
        assert.equal(out.code, 2, out.stderr);
        assert.match(out.stdout, /`pulumi up` will build 2 and re-tag 2/);
    });

    it("needless-bump (exit 3): a new tag whose every image is already published under the previous one", async () => {
        const checkout = writeTrussCheckout("today");
        const config = stack(checkout);
        setTag(checkout, "v0.12.0");
        await publish(config);
        setTag(checkout, "v0.13.0");
        const out = await check([], project(config));
        assert.equal(out.code, 3, out.stderr);
        assert.match(
            out.stdout,
            /^needless-bump: No tag of v0\.13\.0 is published, but every image equals one already published \(v0\.12\.0\)/m,
        );
        assert.doesNotMatch(out.stderr, /pyproject/);
    });

    it("--truss overrides truss.checkout (2023 layout: server and training images)", async () => {
        const old = writeTrussCheckout("2023");
        const config = stack(writeTrussCheckout("today"), {
            matrix: { jobTypes: ["server", "training"], pythonVersions: ["3.8"], gpu: [false], liveReload: [false] },
        });
        const out = await check(["--truss", old, "--json"], project(config));
        assert.equal(out.code, 2, out.stderr);
        const result = JSON.parse(out.stdout);
        assert.equal(result.versionTag, "v0.4.8rc3");
        assert.deepEqual(
            result.images.map((i: { image: string }) => i.image.slice(i.image.lastIndexOf("/") + 1)),
            ["truss-server-base:3.8-v0.4.8rc3", "truss-training-base:3.8-v0.4.8rc3"],
        );
        assert.deepEqual(result.warnings, []);
    });

    it("a tag published without a content label, and a checkout without git history: one error, no guess; the plan stops naming it and never builds over it", async () => {
        const config = stack(writeTrussCheckout("today"));
        const ns = (config.registry as { namespace: string }).namespace;
        await pushImage({ url: registry.url }, `${ns}/truss-server-base`, "3.9-v0.13.0", { labels: {}, layerText: "made by another tool" });
        const out = await check(["--json"], project(config));
        assert.equal(out.code, 1, out.stderr);
        assert.equal(out.stdout, "");
        assert.match(out.stderr, /has no git history to read .*fetch-depth: 0/);
        const plan = await run(runPlan, ["--stack", "t", "--json"], project(config));
        assert.equal(plan.code, 1);
        assert.equal(JSON.parse(plan.stdout).find((i: { tag: string }) => i.tag === "3.9-v0.13.0").action, "conflict");
        assert.match(
            plan.stderr,
            new RegExp(
                `${ns}/truss-server-base:3\\.9-v0\\.13\\.0: the registry holds an image without a truss\\.base\\.content-digest label`,
            ),
        );
        assert.match(plan.stderr, /Bump versionTag/);
        assert.match(plan.stderr, /note: The Truss checkout .* has no git history to read/);
    });

    describe("bad input: exit 1 and one message", () => {
        it("a checkout that is not there", async () => {
            const missing = path.join(os.tmpdir(), "no-such-truss-checkout");
            const out = await check([], project(stack(missing)));
            assert.equal(out.code, 1);
            assert.match(out.stderr, new RegExp(`^No Truss checkout at ${missing} \\(from truss\\.checkout`));
            assert.equal(out.stdout, "");
        });

        it("a broken checkout file", async () => {
            const checkout = writeTrussCheckout("today");
            fs.rmSync(path.join(checkout, "truss/contexts/image_builder/util.py"));
            const out = await check([], project(stack(checkout)));
            assert.equal(out.code, 1);
            assert.match(out.stderr, /util\.py: expected TRUSS_BASE_IMAGE_VERSION_TAG = "v\.\.\."; found no such file/);
        });

        it("an unreachable registry", async () => {
            const config = { ...stack(writeTrussCheckout("today")), registry: { server: "127.0.0.1:9", namespace: "baseten" } };
            const out = await check([], project(config));
            assert.equal(out.code, 1);
            assert.match(out.stderr, /registry 127\.0\.0\.1:9.*unreachable/);
        });

        it("an unknown option (exit 1, not a verdict's code) and an unknown stack", async () => {
            const dir = project(stack(writeTrussCheckout("today")));
            const usage = await run(runReleaseCheck, ["--stak", "t"], dir);
            assert.equal(usage.code, 1);
            assert.match(usage.stderr, /usage: npm run release-check/);
            const unknown = await run(runReleaseCheck, ["--stack", "nope"], dir);
            assert.equal(unknown.code, 1);
            assert.match(unknown.stderr, /No stack file Pulumi\.nope\.yaml/);
        });

        it("no --stack: a usage error naming the stacks there are (no quiet default)", async () => {
            const dir = project(stack(writeTrussCheckout("today")));
            fs.writeFileSync(path.join(dir, "Pulumi.prod.yaml"), "config: {}\n");
            const out = await run(runReleaseCheck, ["--json"], dir);
            assert.equal(out.code, 1);
            assert.equal(out.stdout, "");
            assert.match(
                out.stderr,
                /^--stack <name> is required: .* The stacks here are prod, t \(e\.g\. --stack prod\)\.\nusage: npm run release-check/,
            );
            const plan = await run(runPlan, [], dir);
            assert.equal(plan.code, 2);
            assert.match(plan.stderr, /^--stack <name> is required: .*The stacks here are prod, t/);
        });

        it("an unknown --policy", async () => {
            const out = await run(runReleaseCheck, ["--stack", "t", "--policy", "lenient"], project(stack(writeTrussCheckout("today"))));
            assert.equal(out.code, 1);
            assert.match(out.stderr, /^--policy lenient is not a policy: use --policy strict \(the default\) or --policy advisory\./);
        });
    });
});
