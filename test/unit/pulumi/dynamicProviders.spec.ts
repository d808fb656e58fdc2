import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { HOST_PACKAGE, IMPLEMENTATION_KEY, installedHostProblem, withFormerTypeToken } from "../../../src/pulumi/dynamicProvider";
import { IMPLEMENTATION_NAMES } from "../../../src/pulumi/implementationNames";
import { ReadinessGate } from "../../../src/pulumi/readinessGate";
import { SmokeTest } from "../../../src/pulumi/smokeTest";
import { hosted, PROJECT_ROOT } from "../../support/dynamicProviders";
import { mockOutputs, recorded, RecordedResource, resetMocks, valueOf } from "../../support/pulumiMocks";
import { estimateState, StateEstimate } from "../../support/stateSize";
import { declareMockStack, flatConfig, prodAsCommitted } from "../../support/stacks";

const PROVIDER_LIMIT_BYTES = 5 * 1024;
/**
 * The target is 300 KB (npm run bench reports it, about 294 KB); prod's estimate here is about
 * 298 KB for 144 resources, since its eStargz platform images declare no SmokedStagingTag (their
 * proof is the converted image's tag; each marker was about 1.8 KB of state). This limit, just
 * above it, stops any growth going unnoticed.
 */
const STATE_LIMIT_BYTES = 300 * 1024;
/**
 * Declared by prod as committed (both platforms, eStargz): every tag an index of converted images.
 * No SmokedStagingTag: an eStargz image's proof is its converted image's tag.
 */
const PROD_TYPES = ["RegistryIndex", "EstargzImage", "SmokeTest", "ReadinessGate", "WorkTicket", "RunnerHostKey"];

describe("dynamic providers in the state (Pulumi mocks)", () => {
    let prod: { resources: RecordedResource[]; estimate: StateEstimate };
    let single: RecordedResource[];
    let gzip: RecordedResource[];
    before(async () => {
        // The prod stack with every image to build: every kind of resource, the most of them.
        const committed = await prodAsCommitted();
        prod = { resources: [...committed.resources], estimate: estimateState(committed.resources) };
        // RegistryTag writes single-image tags: prod with linux/amd64 alone and gzip declares it.
        const matrix = { ...(JSON.parse(flatConfig("prod")["truss-base-images:matrix"]) as object), platforms: ["linux/amd64"] };
        const one = declareMockStack("prod", {
            overrides: { "truss-base-images:matrix": matrix, "truss-base-images:compression": "gzip" },
        });
        mockOutputs("docker:index/image:Image", (args) => ({ repoDigest: `${args.inputs.imageName}@sha256:${"0".repeat(64)}` }));
        mockOutputs("pulumi-nodejs:dynamic/truss-base-images:RegistryTag", () => ({ digest: `sha256:${"1".repeat(64)}` }));
        await valueOf(one.output);
        single = [...recorded()];
        // SmokedStagingTag marks gzip platform images: prod's platforms with gzip declares it.
        const both = declareMockStack("prod", { overrides: { "truss-base-images:compression": "gzip" } });
        mockOutputs("docker:index/image:Image", (args) => ({ repoDigest: `${args.inputs.imageName}@sha256:${"0".repeat(64)}` }));
        await valueOf(both.output);
        gzip = [...recorded()];
    });

    const dynamicOf = (resources: RecordedResource[]) => resources.filter((r) => typeof r.inputs?.__provider === "string");

    it(`every dynamic resource stores the same provider, a require of ${HOST_PACKAGE} with no code and no path of this machine, under ${PROVIDER_LIMIT_BYTES} bytes`, () => {
        const all = [...dynamicOf(prod.resources), ...dynamicOf(single), ...dynamicOf(gzip)];
        for (const type of [...PROD_TYPES, "RegistryTag", "SmokedStagingTag"]) {
            assert.ok(
                all.some((r) => r.type.endsWith(`:${type}`)),
                `the stacks declare a ${type}`,
            );
        }
        const texts = new Set(all.map((r) => r.inputs.__provider as string));
        assert.equal(texts.size, 1, "one provider text for every resource");
        const [text] = texts;
        assert.ok(Buffer.byteLength(text) <= PROVIDER_LIMIT_BYTES, `the provider is ${Buffer.byteLength(text)} bytes`);
        assert.match(text, new RegExp(`require\\("${HOST_PACKAGE}(/index\\.js)?"\\)`));
        assert.ok(!text.includes(PROJECT_ROOT), "no folder of the machine that declared the stack");
        assert.ok(!/function\s*\(.*\)\s*{[^}]*registry|RegistryClient|ts-node/i.test(text), text);
        for (const size of Object.values(prod.estimate.providerBytes)) assert.ok(size <= PROVIDER_LIMIT_BYTES);
    });

    it("each dynamic resource names the implementation of its own kind, in its inputs", () => {
        for (const r of [...dynamicOf(prod.resources), ...dynamicOf(single), ...dynamicOf(gzip)]) {
            const name = r.inputs[IMPLEMENTATION_KEY] as string;
            assert.ok(IMPLEMENTATION_NAMES.includes(name as never), `${r.name}: ${name}`);
            assert.ok(r.type.endsWith(`:${name}`), `${r.name} (${r.type}) names ${name}`);
        }
    });

    it(`the prod stack's estimated state stays under ${STATE_LIMIT_BYTES / 1024} KB, a guard against growth (the target, 300 KB, is the benchmark's)`, () => {
        // An estimate (test/support/stateSize.ts); the benchmark prints it.
        assert.ok(
            prod.estimate.bytes < STATE_LIMIT_BYTES,
            `estimated state ${Math.round(prod.estimate.bytes / 1024)} KB for ${prod.estimate.resources} resources`,
        );
        for (const r of dynamicOf(prod.resources)) {
            assert.equal(r.inputs.sshOpts, undefined, `${r.name} stores the ssh access, not the whole option list`);
            assert.equal((r.inputs.endpoint as { sshOpts?: unknown } | undefined)?.sshOpts, undefined, r.name);
        }
    });

    it("SmokeTest.testedDigest and ReadinessGate.dockerVersion hold the values the engine returns (through Pulumi's output serialization)", async () => {
        resetMocks();
        mockOutputs("pulumi-nodejs:dynamic/truss-base-images:SmokeTest", (args) => ({ testedDigest: args.inputs.digest }));
        mockOutputs("pulumi-nodejs:dynamic/truss-base-images:ReadinessGate", () => ({ dockerVersion: "26.1.5" }));
        const digest = `sha256:${"e".repeat(64)}`;
        const smoke = new SmokeTest("smoke", {
            image: `docker.io/baseten/truss-server-base@${digest}`,
            digest,
            spec: { jobType: "server", python: "3.9", accelerator: "cpu", liveReload: false },
            runner: "cpu-0",
            host: "ssh://ubuntu@192.0.2.1",
            timeoutSeconds: 60,
        });
        const gate = new ReadinessGate("gate", {
            runner: "cpu-0",
            host: "ssh://ubuntu@192.0.2.1",
            waitForCloudInit: true,
            timeoutSeconds: 60,
            builds: ["docker.io/baseten/truss-server-base:3.9-v1"],
        });
        assert.ok(pulumi.Output.isInstance(smoke.testedDigest), "testedDigest is an Output");
        assert.equal(await valueOf(smoke.testedDigest), digest);
        assert.equal(await valueOf(gate.dockerVersion), "26.1.5");
    });
});

describe("the provider host (in process)", () => {
    const ticket = hosted("WorkTicket");

    it("keeps the implementation's name in what it returns, so that delete and refresh find it from the state", async () => {
        const created = await ticket.create({ runner: "gpu-0", builds: ["a"] });
        assert.deepStrictEqual(created.outs, { runner: "gpu-0", builds: ["a"], [IMPLEMENTATION_KEY]: "WorkTicket" });
        assert.deepStrictEqual((await ticket.check({}, { runner: "gpu-0", builds: [] })).inputs, {
            runner: "gpu-0",
            builds: [],
            [IMPLEMENTATION_KEY]: "WorkTicket",
        });
    });

    it("a method the implementation lacks does what Pulumi's provider server does without it", async () => {
        // WorkTicket has diff and create only.
        const props = { runner: "gpu-0", builds: [] };
        assert.deepStrictEqual(
            await ticket.check({}, props),
            { inputs: { ...props, [IMPLEMENTATION_KEY]: "WorkTicket" } },
            "check: the inputs as given",
        );
        assert.deepStrictEqual(
            await ticket.read("id-1", props),
            { id: "id-1", props: { ...props, [IMPLEMENTATION_KEY]: "WorkTicket" } },
            "read: the state as it is",
        );
        assert.deepStrictEqual(
            await ticket.update("id-1", props, props),
            { outs: { [IMPLEMENTATION_KEY]: "WorkTicket" } },
            "update: no outputs",
        );
        assert.equal(await ticket.delete("id-1", props), undefined, "delete: nothing");
        // SmokeTest has no check, update, read or delete either; RegistryIndex has no check.
        assert.deepStrictEqual(await hosted("RegistryIndex").check({}, { tag: "x" }), {
            inputs: { tag: "x", [IMPLEMENTATION_KEY]: "RegistryIndex" },
        });
    });

    it("refuses a resource without an implementation's name, or with an unknown one, saying what it knows", async () => {
        const { create } = require(HOST_PACKAGE) as Required<pulumi.dynamic.ResourceProvider>;
        await assert.rejects(
            create({ runner: "gpu-0" }),
            /has no __implementation in its inputs or state: it was not declared by truss-base-images/,
        );
        await assert.rejects(
            create({ [IMPLEMENTATION_KEY]: "Gone" }),
            /no dynamic provider named "Gone" in truss-base-images \(known: RegistryTag, RegistryIndex, EstargzImage, SmokeTest, ReadinessGate, WorkTicket, RunnerHostKey, SmokedStagingTag\)/,
        );
    });
});

describe("the installed provider host", () => {
    let dir: string;
    before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "provider-host-"))));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const write = (rel: string, text: string) => {
        const file = path.join(dir, rel);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, text);
        return file;
    };

    it("is fine as a copy in node_modules identical to its source; this checkout's is", () => {
        const source = write("src/index.js", "module.exports = {};\n");
        assert.equal(installedHostProblem(write(`node_modules/${HOST_PACKAGE}/index.js`, "module.exports = {};\n"), source), undefined);
        const installed = fs.realpathSync(require.resolve(HOST_PACKAGE));
        assert.equal(installedHostProblem(installed, path.join(PROJECT_ROOT, "src", "pulumi", "providerHost", "index.js")), undefined);
    });

    it("refuses a link to its source (Pulumi would store its code), and a copy older than the source, saying to run npm ci", () => {
        const source = write("src/index.js", "module.exports = { edited: true };\n");
        assert.match(
            installedHostProblem(source, source) ?? "",
            /a link to its source rather than a copy in node_modules.*install-links=true; run npm ci/,
        );
        assert.match(
            installedHostProblem(write(`node_modules/${HOST_PACKAGE}/index.js`, "module.exports = {};\n"), source) ?? "",
            /differs from .*src\/index\.js: the copy in node_modules is what Pulumi runs\. Run npm ci/,
        );
    });
});

describe("dynamic resources' type tokens", () => {
    it("keeps a resource declared under its former token (pulumi-nodejs:dynamic:<name>) with an alias, beside the caller's own aliases", () => {
        const own = { type: "pulumi-nodejs:dynamic:Older" };
        const opts = withFormerTypeToken("SmokeTest", { aliases: [own], protect: true });
        assert.deepEqual(opts.aliases, [own, { type: "pulumi-nodejs:dynamic:SmokeTest" }]);
        assert.equal(opts.protect, true);
        assert.deepEqual(withFormerTypeToken("WorkTicket", undefined).aliases, [{ type: "pulumi-nodejs:dynamic:WorkTicket" }]);
    });
});

describe("registry.tokenRealmHosts reaches the resources that write to the registry (Pulumi mocks)", () => {
    const REALMS = ["auth.registry.example.com"];
    const writers = ["RegistryTag", "RegistryIndex", "SmokedStagingTag"].map((t) => `pulumi-nodejs:dynamic/truss-base-images:${t}`);

    async function declared(overrides: Record<string, unknown>, compression?: string): Promise<RecordedResource[]> {
        const registry = { server: "docker.io", namespace: "baseten", username: "basetenservice", ...overrides };
        const stack = declareMockStack("prod", {
            overrides: { "truss-base-images:registry": registry, ...(compression ? { "truss-base-images:compression": compression } : {}) },
        });
        mockOutputs("docker:index/image:Image", (args) => ({ repoDigest: `${args.inputs.imageName}@sha256:${"0".repeat(64)}` }));
        await valueOf(stack.output);
        return recorded().filter((r) => writers.includes(r.type));
    }

    it("passes the stack's hosts to every RegistryIndex of prod, and every SmokedStagingTag of prod with gzip, and stores nothing new for a stack without the key", async () => {
        for (const compression of [undefined, "gzip"]) {
            const withHosts = await declared({ tokenRealmHosts: REALMS }, compression);
            assert.ok(withHosts.length > 0);
            if (compression)
                assert.ok(
                    withHosts.some((r) => r.type.endsWith(":SmokedStagingTag")),
                    "gzip declares SmokedStagingTags",
                );
            for (const r of withHosts) assert.deepEqual(r.inputs?.tokenRealmHosts, REALMS, `${r.type} ${r.name}`);
            const without = await declared({}, compression);
            for (const r of without) assert.equal(r.inputs?.tokenRealmHosts, undefined, `${r.type} ${r.name}`);
        }
    });
});
