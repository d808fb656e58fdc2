import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { runPlan, PASSWORD_ENV } from "../../../src/cli/plan";
import { loadCatalog } from "../../../src/images/catalog";
import { parseStackConfig, SECRET_PRESENT } from "../../../src/config/stackConfig";
import { LABELS } from "../../../src/images/labels";
import { planImages } from "../../../src/publish/plannedImages";
import { DEFAULT_USER, startRegistry, TestRegistry } from "../../support/registry";
import { pushImage } from "../../support/registryImages";
import { writeTrussCheckout } from "../../support/trussCheckouts";

/** A project folder with one stack file, as `npm run plan` reads it. */
function project(stack: string, config: Record<string, unknown>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "truss-plan-cli-"));
    const entries = Object.fromEntries(Object.entries(config).map(([k, v]) => [`truss-base-images:${k}`, v]));
    fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), YAML.stringify({ config: entries }));
    return dir;
}

async function plan(argv: string[], projectDir: string, env: NodeJS.ProcessEnv = {}) {
    let stdout = "";
    let stderr = "";
    const code = await runPlan(argv, { projectDir, env, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    return { code, stdout, stderr };
}

let namespaces = 0;
/** Each test publishes into a namespace of its own, so that no test sees another's tags. */
function freshNamespace(): string {
    return `ns${++namespaces}`;
}

function stackConfig(registry: TestRegistry, versionTag: string, extra: Record<string, unknown> = {}, namespace = "baseten") {
    return {
        versionTag,
        registry: { server: registry.host, namespace },
        matrix: { jobTypes: ["server", "training"], pythonVersions: ["3.9"], gpu: [false, true], liveReload: [false] },
        builders: { mode: "local" },
        ...extra,
    };
}

/** Publishes, straight through the registry API, an image labelled with each planned content digest. */
async function publish(
    registry: TestRegistry,
    config: Record<string, unknown>,
    opts: { credentials?: { username: string; password: string }; only?: string } = {},
) {
    const catalog = loadCatalog();
    const parsed = parseStackConfig({ ...config, registryPassword: SECRET_PRESENT }, catalog, "test");
    for (const image of planImages(parsed, catalog)) {
        if (opts.only && !image.reference.includes(opts.only)) continue;
        const repo = image.repository.slice(registry.host.length + 1);
        await pushImage({ url: registry.url, credentials: opts.credentials }, repo, image.tag, {
            labels: { [LABELS.contentDigest]: image.contentDigest },
            layerText: image.reference,
        });
    }
}

describe("npm run plan", function () {
    this.timeout(60_000);
    let registry: TestRegistry;
    before(async () => {
        registry = await startRegistry();
    });
    after(async () => {
        await registry?.stop();
    });

    it("with an empty registry, builds every image and prints a table and a summary", async () => {
        const dir = project("t", stackConfig(registry, "v1-empty"));
        const out = await plan(["--stack", "t"], dir);
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /^IMAGE\s+CONTENT DIGEST\s+POOL\s+ACTION$/m);
        assert.match(
            out.stdout,
            new RegExp(`^${registry.host}/baseten/truss-server-base:3\\.9-gpu-v1-empty\\s+sha256:[0-9a-f]{12}\\s+local\\s+build$`, "m"),
        );
        assert.match(out.stdout, /^4 images: 4 build, 0 retag, 0 unchanged, 0 conflict$/m);
    });

    it("--json: after publishing, every tag is unchanged; after a version bump, every tag is re-tagged from the previous version", async () => {
        const ns = freshNamespace();
        const v1 = stackConfig(registry, "v1.0.0", {}, ns);
        await publish(registry, v1);
        const dir = project("t", v1);
        const same = await plan(["--stack", "t", "--json"], dir);
        assert.equal(same.code, 0, same.stderr);
        const items = JSON.parse(same.stdout);
        assert.equal(items.length, 4);
        for (const item of items) {
            assert.deepEqual(Object.keys(item).sort(), ["action", "contentDigest", "image", "parent", "platforms", "pool", "tag"]);
            assert.equal(item.action, "unchanged");
            // One platform: the tag holds that image, whose content digest is the tag's.
            assert.deepEqual(item.platforms, [{ platform: "linux/amd64", contentDigest: item.contentDigest, pool: item.pool }]);
        }

        const bumped = project("t", stackConfig(registry, "v1.0.1", {}, ns));
        const next = JSON.parse((await plan(["--stack", "t", "--json"], bumped)).stdout);
        for (const item of next) {
            assert.equal(item.action, "retag");
            assert.equal(item.source, item.image.replace("v1.0.1", "v1.0.0"));
            assert.equal(item.tag.endsWith("-v1.0.1"), true);
        }
    });

    it("changing the training requirements is the same as a new image: training builds, server re-tags", async () => {
        const ns = freshNamespace();
        await publish(registry, stackConfig(registry, "v2.0.0", {}, ns), { only: "truss-server-base" });
        const dir = project("t", stackConfig(registry, "v2.0.1", {}, ns));
        const items = JSON.parse((await plan(["--stack", "t", "--json"], dir)).stdout);
        for (const item of items) assert.equal(item.action, item.image.includes("truss-server-base") ? "retag" : "build", item.image);
    });

    it("under immutableTags, a tag published with other content is a conflict: exit 1 and a message that says to bump versionTag", async () => {
        const ns = freshNamespace();
        const config = stackConfig(registry, "v3.0.0", { immutableTags: true }, ns);
        await pushImage({ url: registry.url }, `${ns}/truss-server-base`, "3.9-v3.0.0", {
            labels: { [LABELS.contentDigest]: `sha256:${"0".repeat(64)}` },
            layerText: "something else",
        });
        const out = await plan(["--stack", "t", "--json"], project("t", config));
        assert.equal(out.code, 1);
        const items = JSON.parse(out.stdout);
        assert.equal(items.find((i: { tag: string }) => i.tag === "3.9-v3.0.0").action, "conflict");
        assert.match(
            out.stderr,
            new RegExp(`${registry.host}/${ns}/truss-server-base:3\\.9-v3\\.0\\.0: the registry holds content digest sha256:0{64}`),
        );
        assert.match(out.stderr, /Bump versionTag/);

        const relaxed = await plan(["--stack", "t", "--json"], project("t", { ...config, immutableTags: false }));
        assert.equal(relaxed.code, 0, "without immutableTags a conflict is rebuilt, not an error");
    });

    it("with push: false, builds everything without asking the registry", async () => {
        const config = { ...stackConfig(registry, "v1.0.0"), registry: { server: "127.0.0.1:9", namespace: "baseten" }, push: false };
        const out = await plan(["--stack", "t"], project("t", config));
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /4 images: 4 build/);
        assert.match(out.stdout, /registry was not consulted/);
    });

    it("reports an unreachable registry, invalid config and an unknown stack with exit 1 and one message", async () => {
        const down = await plan(
            ["--stack", "t"],
            project("t", { ...stackConfig(registry, "v1"), registry: { server: "127.0.0.1:9", namespace: "baseten" } }),
        );
        assert.equal(down.code, 1);
        assert.match(down.stderr, /registry 127\.0\.0\.1:9.*unreachable/);
        const bad = await plan(
            ["--stack", "t"],
            project("t", {
                ...stackConfig(registry, "v1"),
                matrix: { jobTypes: ["server"], pythonVersions: ["2.7"], gpu: [true], liveReload: [false] },
            }),
        );
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /truss-base-images:matrix\.pythonVersions\[0\]: is not a python version of the catalog/);
        const unknown = await plan(["--stack", "nope"], project("t", stackConfig(registry, "v1")));
        assert.equal(unknown.code, 1);
        assert.match(unknown.stderr, /No stack file Pulumi\.nope\.yaml.*stacks here: t/);
        const usage = await plan(["--stak", "t"], project("t", stackConfig(registry, "v1")));
        assert.equal(usage.code, 2);
        assert.match(usage.stderr, /usage: npm run plan/);
    });

    it("--truss and --contexts: plans a fixture Truss checkout and writes each staged context to <dir>/<digest hex>/", async () => {
        const checkout = writeTrussCheckout("today");
        const contexts = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "truss-plan-contexts-")), "out");
        const config = {
            ...stackConfig(registry, "v1"),
            versionTag: undefined,
            matrix: { jobTypes: ["server"], pythonVersions: ["3.9"], gpu: [false, true], liveReload: [false] },
        };
        const out = await plan(["--stack", "t", "--truss", checkout, "--contexts", contexts, "--json"], project("t", config));
        assert.equal(out.code, 0, out.stderr);
        const items = JSON.parse(out.stdout);
        assert.deepEqual(
            items.map((i: { tag: string }) => i.tag),
            ["3.9-v0.13.0", "3.9-gpu-v0.13.0"],
        );
        for (const item of items) {
            assert.equal(item.context, path.join(contexts, item.contentDigest.slice("sha256:".length)));
            assert.deepEqual(fs.readdirSync(item.context).sort(), ["Dockerfile", "requirements.txt"]);
            assert.equal(
                fs.readFileSync(path.join(item.context, "requirements.txt"), "utf8"),
                fs.readFileSync(path.join(checkout, "truss/templates/server/requirements.txt"), "utf8"),
            );
        }
        assert.match(fs.readFileSync(path.join(items[1].context, "Dockerfile"), "utf8"), /^\nFROM nvidia\/cuda:/);
    });

    describe("with a registry that needs a password", () => {
        let locked: TestRegistry;
        before(async () => {
            locked = await startRegistry({ auth: "htpasswd" });
        });
        after(async () => {
            await locked?.stop();
        });

        it("reads with the password from TRUSS_REGISTRY_PASSWORD, and notes that the stack has none for pulumi up", async () => {
            const config = {
                ...stackConfig(locked, "v1.0.0"),
                registry: { server: locked.host, namespace: "baseten", username: DEFAULT_USER.username },
            };
            await publish(locked, config, { credentials: DEFAULT_USER, only: "truss-training-base" });
            const out = await plan(["--stack", "t", "--json"], project("t", config), { [PASSWORD_ENV]: DEFAULT_USER.password });
            assert.equal(out.code, 0, out.stderr);
            const items = JSON.parse(out.stdout);
            for (const item of items) assert.equal(item.action, item.image.includes("training") ? "unchanged" : "build");
            assert.match(out.stderr, /has no registryPassword for truss; `pulumi up` will refuse to publish/);
        });

        it("with a wrong password: the 401 names the registry and user, never the password", async () => {
            const config = {
                ...stackConfig(locked, "v1.0.0"),
                registry: { server: locked.host, namespace: "baseten", username: DEFAULT_USER.username },
            };
            const out = await plan(["--stack", "t"], project("t", config), { [PASSWORD_ENV]: "not-the-password" });
            assert.equal(out.code, 1);
            assert.match(out.stderr, new RegExp(`${locked.host}`));
            assert.match(out.stderr, /truss/);
            assert.doesNotMatch(out.stderr, /not-the-password/);
            assert.match(out.stderr, /its password \(the TRUSS_REGISTRY_PASSWORD environment variable\)/, "the variable the CLI reads");
            assert.doesNotMatch(out.stderr, /pulumi config set/, "not a setting the CLI never reads");
        });

        it("with registry.username set and TRUSS_REGISTRY_PASSWORD unset: says to set the variable, not registry.username", async () => {
            const config = {
                ...stackConfig(locked, "v1.0.0"),
                registry: { server: locked.host, namespace: "baseten", username: DEFAULT_USER.username },
            };
            const out = await plan(["--stack", "t"], project("t", config), {});
            assert.equal(out.code, 1);
            assert.match(out.stderr, /did not accept anonymous access/);
            assert.match(
                out.stderr,
                /registry\.username to "truss", but no password was given.*set the TRUSS_REGISTRY_PASSWORD environment variable/,
            );
            assert.doesNotMatch(out.stderr, /Set registry\.username/);
        });
    });
});
