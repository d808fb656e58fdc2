import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { planImages, PlannedImage, PublishAction } from "../../../src/publish/plannedImages";
import { renderUserData } from "../../../src/runners/userData";
import { declareRunners, Runners } from "../../../src/pulumi/declareRunners";
import { sshOptions } from "../../../src/runners/ssh";
import { hosted } from "../../support/dynamicProviders";
import { readStackConfig } from "../../../src/pulumi/config";
import { offlinePlan } from "../../../src/publish/publishPlan";
import { declareStack, DeclaredStack } from "../../../src/pulumi/stack";
import { FAKE_AMIS, fakeLaunchAddress, fakeRunnerAddress, GET_AMI, GET_EIPS, mockAwsLookups, AwsMockOptions } from "../../support/aws";
import {
    describeOutput,
    mockOutputs,
    recorded,
    RecordedCall,
    recordedCalls,
    RecordedResource,
    resetMocks,
    valueOf,
} from "../../support/pulumiMocks";
import { FAKE_PASSWORD, flatConfig, prodAsCommitted, settle } from "../../support/stacks";

const T = {
    image: "docker:index/image:Image",
    provider: "pulumi:providers:docker",
    instance: "aws:ec2/instance:Instance",
    eip: "aws:ec2/eip:Eip",
    association: "aws:ec2/eipAssociation:EipAssociation",
    securityGroup: "aws:ec2/securityGroup:SecurityGroup",
    role: "aws:iam/role:Role",
    power: "aws:ec2transitgateway/instanceState:InstanceState",
    gate: "pulumi-nodejs:dynamic/truss-base-images:ReadinessGate",
    ticket: "pulumi-nodejs:dynamic/truss-base-images:WorkTicket",
    smoke: "pulumi-nodejs:dynamic/truss-base-images:SmokeTest",
    policyAttachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    hostKey: "pulumi-nodejs:dynamic/truss-base-images:RunnerHostKey",
};
/** Pulumi's marker of a secret value in serialized properties (what the engine encrypts in the state). */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** The value of a secret as the mock engine received it; fails when the value was not sent as a secret. */
function secretValue(v: unknown): any {
    const o = v as Record<string, unknown> | undefined;
    assert.ok(o && typeof o === "object" && SECRET_SIG in o, `not a secret: ${String(v).slice(0, 60)}`);
    return o.value;
}
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1RUq2k3nLUbGN6zC4FfEA+GiDpisq6QU2xRiCHLdza operator@example";
const DIGEST = `sha256:${"ab".repeat(32)}`;

interface Declared {
    readonly resource: pulumi.Resource;
    readonly type: string;
    readonly opts: pulumi.CustomResourceOptions;
    readonly props: Record<string, any>;
}

/** Every resource a declaration registers, with the options and inputs the program gave it. */
class Recorder {
    readonly all = new Map<string, Declared>();
    readonly opts: pulumi.ComponentResourceOptions = {
        transformations: [
            (args) => {
                this.all.set(`${args.type}::${args.name}`, {
                    resource: args.resource,
                    type: args.type,
                    opts: args.opts as pulumi.CustomResourceOptions,
                    props: args.props,
                });
                return undefined;
            },
        ],
    };

    get(type: string, name: string): Declared {
        const d = this.all.get(`${type}::${name}`);
        assert.ok(d, `no ${type} named ${name}; declared: ${[...this.all.keys()].join(", ")}`);
        return d;
    }

    ofType(type: string): [string, Declared][] {
        return [...this.all.entries()].filter(([, d]) => d.type === type).map(([k, d]) => [k.slice(type.length + 2), d]);
    }

    /** Waits until every recorded resource is registered (its URN resolves, also at preview). */
    async settle(): Promise<void> {
        await settle(() => [...this.all.values()]);
    }
}

interface Options extends AwsMockOptions {
    readonly builders?: Record<string, unknown>;
    /** matrix.platforms instead of prod's (linux/amd64 and linux/arm64). */
    readonly platforms?: readonly string[];
    /** push instead of prod's (true). */
    readonly push?: boolean;
    readonly preview?: boolean;
}

/** The prod stack file with its ec2 builders (adjusted by `builders`), config as the engine passes it. */
function prodConfig(builders: Record<string, unknown> = {}, platforms?: readonly string[], push?: boolean): Record<string, string> {
    const committed = flatConfig("prod");
    const b = { ...JSON.parse(committed["truss-base-images:builders"]), sshPublicKey: KEY, allowedCidrs: [], ...builders };
    const matrix = platforms ? { "truss-base-images:matrix": { ...JSON.parse(committed["truss-base-images:matrix"]), platforms } } : {};
    return flatConfig("prod", {
        "truss-base-images:builders": b,
        "truss-base-images:registryPassword": FAKE_PASSWORD,
        "truss-base-images:push": push,
        ...matrix,
    });
}

/** One platform's build of a tag: its resource name, staging reference and the runner it must build on. */
interface PlatformUnit {
    readonly image: PlannedImage;
    readonly name: string;
    readonly reference: string;
    readonly runner: string;
}

/** Every platform build of the plan: linux/arm64 on the arm64 pool, linux/amd64 on `amd64Runner`'s pick (gpu or cpu by default). */
function platformUnits(
    plan: readonly PlannedImage[],
    amd64Runner: (image: PlannedImage) => string = (i) => (i.spec.accelerator === "gpu" ? "gpu-0" : "cpu-0"),
): PlatformUnit[] {
    return plan.flatMap((image) =>
        image.platforms.map((p) => {
            const arch = p.platform.split("/")[1];
            return {
                image,
                name: `${image.resourceName}-${arch}`,
                reference: `${image.repository}:${p.stagingTag}`,
                runner: arch === "arm64" ? "arm64-0" : amd64Runner(image),
            };
        }),
    );
}

function start(opts: Options): Recorder {
    resetMocks({
        config: prodConfig(opts.builders, opts.platforms, opts.push),
        secretKeys: ["truss-base-images:registryPassword"],
        preview: opts.preview,
        stack: "prod",
    });
    mockAwsLookups(opts);
    mockOutputs(T.image, (args) => ({ repoDigest: `${String(args.inputs.imageName).replace(/:[^:/]+$/, "")}@${DIGEST}` }));
    return new Recorder();
}

type Seen = RecordedResource & { readonly inputs: Record<string, any> };

/**
 * One declaration under mocks, kept for the group of assertions made on it: the program's
 * resources (`rec`) and what the mock engine saw, copied, since the next declaration clears it.
 */
interface Declaration {
    readonly rec: Recorder;
    readonly resources: readonly Seen[];
    readonly calls: readonly RecordedCall[];
}

/** Waits until the declaration is registered, and keeps what the mock engine saw. */
async function record(rec: Recorder): Promise<Declaration> {
    await rec.settle();
    return { rec, resources: [...recorded()] as Seen[], calls: [...recordedCalls()] };
}

const all = (d: Declaration, type: string) => d.resources.filter((r) => r.type === type);

function inputsOf(d: Declaration, type: string, name: string): Record<string, any> {
    const r = d.resources.find((x) => x.type === type && x.name === name);
    assert.ok(r, `${type} ${name} was not registered`);
    return r.inputs;
}

type StackDeclaration = Declaration & { readonly stack: DeclaredStack };

/** Declares the whole prod stack under mocks. */
async function prodStack(opts: Options = {}): Promise<StackDeclaration> {
    const rec = start(opts);
    const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "truss-runners-"));
    const config = readStackConfig();
    const stack = declareStack(config, offlinePlan(config.config, config.catalog), projectDir, rec.opts);
    return { ...(await record(rec)), stack };
}

type RunnersDeclaration = Declaration & { readonly plan: PlannedImage[]; readonly runners: Runners };

/**
 * Declares only the runners, for a plan whose actions the test chooses (the registry check is
 * another module's job); `extend` may add images to the plan.
 */
async function runnersFor(
    actions: (image: PlannedImage) => PublishAction,
    opts: Options = {},
    extend: (plan: PlannedImage[]) => PlannedImage[] = (plan) => plan,
): Promise<RunnersDeclaration> {
    const rec = start(opts);
    const { config, catalog } = readStackConfig();
    const plan = extend(planImages(config, catalog).map((p) => ({ ...p, action: actions(p) })));
    const runners = declareRunners(config, plan, rec.opts);
    return { ...(await record(rec)), plan, runners };
}

/** A declaration that several groups of assertions share: declared on first use, then kept. */
function once<D>(declare: () => Promise<D>): () => Promise<D> {
    let declared: Promise<D> | undefined;
    return () => (declared ??= declare());
}

/** prod as committed (allowedCidrs: [] lets no one in), every image to build: the declaration the specs share. */
const PROD = once(async (): Promise<StackDeclaration> => {
    const stack = await prodAsCommitted();
    const rec = new Recorder();
    for (const d of stack.declared) rec.all.set(`${d.type}::${d.name}`, d);
    return { rec, resources: stack.resources as Seen[], calls: stack.calls, stack };
});
/** The runners of prod as committed, every image to build in this update. */
const BUILDING = once(() => runnersFor(() => "build"));
/** The runners of prod as committed, nothing to build in this update. */
const IDLE = once(() => runnersFor(() => "unchanged"));
/** The AMI the operator's options set for the GPU pool. */
const OPERATOR_AMI = "ami-0123456789abcdef0";
/**
 * The runners of prod with every option an operator may set for ssh access: allowed CIDR
 * blocks (IPv4 and IPv6), a private key path, and a GPU pool (prod's instance type, count and
 * volume) of spot instances with its own AMI. Each of these options changes resources that the
 * others leave alone (security groups, ssh options, market options, the AMI look-up).
 */
const OPERATOR_OPTIONS = once(() =>
    runnersFor(() => "unchanged", {
        builders: {
            allowedCidrs: ["203.0.113.7/32", "2001:db8::/48"],
            sshPrivateKeyPath: "~/.ssh/operator-only-key",
            gpu: { instanceType: "g6.xlarge", count: 1, volumeSizeGiB: 200, spot: true, ami: OPERATOR_AMI },
        },
    }),
);

const providerName = async (p: pulumi.ProviderResource) => (await valueOf(p.urn)).split("::").pop();

describe("EC2 build runners (Pulumi mocks, the prod stack)", () => {
    let prod: StackDeclaration;
    before(async () => {
        prod = await PROD();
    });

    it("declares a gpu, a cpu and an arm64 runner: instance, Elastic IP, power state, readiness gate, Docker provider", () => {
        const names = (type: string) =>
            all(prod, type)
                .map((r) => r.name)
                .sort();
        assert.deepStrictEqual(names(T.instance), ["runner-arm64-0", "runner-cpu-0", "runner-gpu-0"]);
        assert.deepStrictEqual(names(T.eip), ["runner-arm64-0-eip", "runner-cpu-0-eip", "runner-gpu-0-eip"]);
        assert.deepStrictEqual(names(T.power), ["runner-arm64-0-power", "runner-cpu-0-power", "runner-gpu-0-power"]);
        assert.deepStrictEqual(names(T.gate), ["runner-arm64-0-ready", "runner-cpu-0-ready", "runner-gpu-0-ready"]);
        assert.deepStrictEqual(names(T.provider), ["runner-arm64-0-docker", "runner-cpu-0-docker", "runner-gpu-0-docker"]);
        // The prod matrix on the fixture Truss checkout: 6 pythons x cpu/gpu server images, each for amd64 and arm64.
        assert.strictEqual(names(T.image).length, 24);
        assert.strictEqual(names(T.smoke).length, 24);
    });

    it("every instance: IMDSv2 only with hop limit 1, an encrypted gp3 root volume of the configured size, stops on shutdown", () => {
        const instances = all(prod, T.instance);
        assert.strictEqual(instances.length, 3);
        const expected: Record<string, [string, number]> = {
            "runner-gpu-0": ["g6.xlarge", 200],
            "runner-cpu-0": ["c7i.2xlarge", 100],
            "runner-arm64-0": ["g5g.xlarge", 200],
        };
        for (const i of instances) {
            assert.deepStrictEqual(
                i.inputs.metadataOptions,
                { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
                i.name,
            );
            const root = i.inputs.rootBlockDevice;
            assert.strictEqual(root.encrypted, true, i.name);
            assert.strictEqual(root.volumeType, "gp3", i.name);
            assert.strictEqual(root.volumeSize, expected[i.name][1]);
            assert.strictEqual(i.inputs.instanceInitiatedShutdownBehavior, "stop");
            assert.strictEqual(i.inputs.instanceType, expected[i.name][0]);
            assert.strictEqual(i.inputs.instanceMarketOptions, undefined, "on-demand unless spot: true");
        }
    });

    it("every instance has its own Elastic IP", () => {
        const instances = all(prod, T.instance);
        const associations = all(prod, T.association);
        assert.strictEqual(associations.length, instances.length);
        for (const i of instances) {
            const mine = associations.filter((a) => a.inputs.instanceId === i.id);
            assert.strictEqual(mine.length, 1, `${i.name} has ${mine.length} Elastic IPs`);
            const runner = i.name.replace("runner-", "");
            assert.strictEqual(mine[0].inputs.allocationId, `eipalloc-${runner}`);
            assert.strictEqual(inputsOf(prod, T.eip, `${i.name}-eip`).domain, "vpc");
        }
    });

    it("the Docker provider's host is ssh://<sshUser>@<the Elastic IP>, never the instance's launch address", () => {
        for (const runner of ["gpu-0", "cpu-0"]) {
            const p = inputsOf(prod, T.provider, `runner-${runner}-docker`);
            assert.strictEqual(p.host, `ssh://ubuntu@${fakeRunnerAddress(runner)}`);
            assert.ok(!String(p.host).includes(fakeLaunchAddress(`runner-${runner}`)));
            assert.strictEqual(
                p.disableDockerDaemonCheck,
                "true",
                "no dial at configure time: a runner with nothing to build may be stopped",
            );
            const sshOpts: string[] = JSON.parse(p.sshOpts);
            assert.ok(sshOpts.includes("ControlMaster=auto") && sshOpts.includes("StrictHostKeyChecking=yes"), sshOpts.join(" "));
            assert.ok(sshOpts.includes(`HostKeyAlias=truss-base-images-prod-runner-${runner}`), sshOpts.join(" "));
        }
    });

    it("the provider's host is known at preview once the Elastic IPs exist, so no image shows a change for it", async () => {
        const preview = await runnersFor(() => "unchanged", { preview: true });
        for (const runner of ["gpu-0", "cpu-0"]) {
            const host = preview.rec.get(T.provider, `runner-${runner}-docker`).props.host as pulumi.Output<string>;
            assert.deepStrictEqual(await describeOutput(host), { known: true, secret: false }, runner);
            assert.strictEqual(await valueOf(host), `ssh://ubuntu@${fakeRunnerAddress(runner)}`);
        }
        assert.ok(
            preview.calls.some((c) => c.token === GET_EIPS),
            "the address is read back by the runner's tags",
        );
    });

    it("on the very first deployment, before a runner's Elastic IP exists, its host is unknown at preview (and only then)", async () => {
        const { rec } = await runnersFor(() => "unchanged", { preview: true, existingEips: ["cpu-0"] });
        const host = (runner: string) => rec.get(T.provider, `runner-${runner}-docker`).props.host as pulumi.Output<string>;
        assert.strictEqual((await describeOutput(host("gpu-0"))).known, false);
        assert.strictEqual((await describeOutput(host("cpu-0"))).known, true);
    });

    it("every amd64 GPU image builds with a GPU runner's provider, every amd64 CPU image with the CPU runner's, every arm64 image with the arm64 runner's", async () => {
        const { stack, rec } = prod;
        const units = platformUnits(stack.plan);
        assert.strictEqual(units.length, 24);
        for (const unit of units) {
            const d = rec.get(T.image, unit.name);
            const provider = d.opts.provider as pulumi.ProviderResource;
            assert.ok(provider, `${unit.name} has no explicit provider`);
            assert.strictEqual(await providerName(provider), `runner-${unit.runner}-docker`, unit.name);
        }
    });

    it("every image depends on the readiness gate of the runner it builds on", () => {
        const { stack, rec } = prod;
        for (const { name, runner } of platformUnits(stack.plan)) {
            const d = rec.get(T.image, name);
            const deps = (d.opts.dependsOn ?? []) as pulumi.Resource[];
            const gate = rec.get(T.gate, `runner-${runner}-ready`).resource;
            assert.ok(deps.includes(gate), `${name} does not wait for runner ${runner}`);
        }
    });

    it("the readiness gate checks the provider's very host and ssh options, after the runner is started, pinning the runner's key and instance", async () => {
        const { rec } = prod;
        const gate = inputsOf(prod, T.gate, "runner-gpu-0-ready");
        const provider = inputsOf(prod, T.provider, "runner-gpu-0-docker");
        assert.strictEqual(gate.host, provider.host);
        assert.strictEqual(gate.sshOpts, undefined, "the gate stores the key and tunnel, not the options");
        assert.deepStrictEqual(sshOptions(gate.ssh ?? {}), JSON.parse(provider.sshOpts), "the options the gate makes are the provider's");
        assert.strictEqual(gate.requireRuntime, "nvidia");
        assert.strictEqual(gate.waitForCloudInit, true);
        assert.strictEqual(gate.expectedHost, gate.host, "the address read back by tags is the stack's Elastic IP");
        assert.strictEqual(gate.instanceId, "runner-gpu-0-id", "the instance from the state");
        const hostKey = rec.get(T.hostKey, "runner-gpu-0-host-key").resource as unknown as { publicKey: pulumi.Output<string> };
        assert.strictEqual(gate.hostKey, await valueOf(hostKey.publicKey), "the public half of the runner's own key, to pin");
        assert.match(gate.hostKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\S+$/);
        assert.strictEqual(gate.ssh.hostKeyAlias, "truss-base-images-prod-runner-gpu-0");
        assert.strictEqual(inputsOf(prod, T.gate, "runner-cpu-0-ready").requireRuntime, undefined);
        const deps = (rec.get(T.gate, "runner-gpu-0-ready").opts.dependsOn ?? []) as pulumi.Resource[];
        assert.ok(deps.includes(rec.get(T.power, "runner-gpu-0-power").resource), "the gate waits for the runner to be started");
    });

    it("smoke tests depend on the pushes and run on the image's runner, by the pushed digest, importing its requirements, again only when it changes", () => {
        const { stack, rec } = prod;
        for (const { image, name, reference, runner } of platformUnits(stack.plan)) {
            const d = rec.get(T.smoke, `${name}-smoke`);
            const deps = (d.opts.dependsOn ?? []) as pulumi.Resource[];
            assert.ok(deps.includes(stack.builds[reference].image), `${name}: the smoke test does not wait for the push`);
            const inputs = inputsOf(prod, T.smoke, `${name}-smoke`);
            assert.strictEqual(inputs.image, `${image.repository}@${DIGEST}`);
            assert.strictEqual(inputs.digest, DIGEST);
            assert.deepStrictEqual(inputs.spec, { ...image.spec });
            // The fixture checkout's server requirements: aiofiles, numpy, pyyaml, python-json-logger.
            assert.deepStrictEqual(inputs.imports, { packages: ["aiofiles", "numpy", "yaml", "pythonjsonlogger"], control: [] });
            assert.strictEqual(inputs.runner, runner);
            assert.strictEqual(inputs.host, `ssh://ubuntu@${fakeRunnerAddress(runner)}`);
            assert.strictEqual(inputs.instanceId, undefined, "over ssh the address and the pinned key suffice");
            assert.strictEqual(inputs.hostKey, inputsOf(prod, T.gate, `runner-${runner}-ready`).hostKey, "the key the gate pins");
            assert.strictEqual(inputs.ssh.hostKeyAlias, `truss-base-images-prod-runner-${runner}`);
        }
    });

    describe("without a cpu pool (two GPU runners), and with push: false", () => {
        let noCpuPool: StackDeclaration;
        before(async () => {
            noCpuPool = await prodStack({
                builders: { cpu: undefined, gpu: { instanceType: "g5.xlarge", count: 2, volumeSizeGiB: 200 } },
                push: false,
            });
        });

        it("without a cpu pool, CPU images build on the GPU runners too", async () => {
            const { stack, rec } = noCpuPool;
            const used = new Set<string>();
            for (const unit of platformUnits(stack.plan)) {
                const name = await providerName(rec.get(T.image, unit.name).opts.provider as pulumi.ProviderResource);
                if (unit.runner === "arm64-0") {
                    assert.strictEqual(name, "runner-arm64-0-docker", unit.name);
                    continue;
                }
                assert.match(name ?? "", /^runner-gpu-[01]-docker$/, unit.name);
                used.add(name!);
            }
            assert.strictEqual(used.size, 2, "both GPU runners build");
        });

        it("with push: false, there is nothing published to smoke-test", () => {
            assert.strictEqual(noCpuPool.rec.ofType(T.smoke).length, 0);
            assert.strictEqual(noCpuPool.rec.ofType(T.image).length, 24);
        });
    });

    describe("security", () => {
        let options: RunnersDeclaration;
        before(async () => {
            options = await OPERATOR_OPTIONS();
        });

        it("by default (allowedCidrs: []) no security group lets anyone in; egress stays open for builds", () => {
            const groups = all(prod, T.securityGroup);
            assert.strictEqual(groups.length, 3);
            for (const g of groups) {
                assert.deepStrictEqual(g.inputs.ingress ?? [], [], g.name);
                assert.deepStrictEqual(
                    g.inputs.egress.map((e: any) => e.cidrBlocks),
                    [["0.0.0.0/0"]],
                );
            }
        });

        it("lets ssh in from exactly the configured blocks, IPv4 and IPv6, and nothing from the world", () => {
            for (const g of all(options, T.securityGroup)) {
                const rules = g.inputs.ingress as any[];
                assert.deepStrictEqual(
                    rules.map((r) => [r.protocol, r.fromPort, r.toPort, r.cidrBlocks ?? [], r.ipv6CidrBlocks ?? []]),
                    [
                        ["tcp", 22, 22, ["203.0.113.7/32"], []],
                        ["tcp", 22, 22, [], ["2001:db8::/48"]],
                    ],
                );
            }
        });

        it("opens ssh to the world only when 0.0.0.0/0 is written out, and warns", async () => {
            const warnings: string[] = [];
            const warn = pulumi.log.warn;
            (pulumi.log as { warn: typeof warn }).warn = async (msg: string) => void warnings.push(msg);
            let open: RunnersDeclaration;
            try {
                open = await runnersFor(() => "unchanged", { builders: { allowedCidrs: ["0.0.0.0/0"] } });
            } finally {
                (pulumi.log as { warn: typeof warn }).warn = warn;
            }
            assert.ok(all(open, T.securityGroup).every((g) => g.inputs.ingress[0].cidrBlocks[0] === "0.0.0.0/0"));
            assert.strictEqual(warnings.filter((w) => /open to the whole internet/.test(w)).length, 3, warnings.join("\n"));
        });

        it("the instance role has no permissions: no policy attached, none inline", () => {
            const roles = all(prod, T.role);
            assert.strictEqual(roles.length, 3);
            for (const r of roles) {
                assert.deepStrictEqual(JSON.parse(r.inputs.assumeRolePolicy).Statement, [
                    { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" },
                ]);
                assert.strictEqual(r.inputs.inlinePolicies, undefined);
                assert.strictEqual(r.inputs.managedPolicyArns, undefined);
            }
            assert.ok(!prod.resources.some((r) => /rolePolicy|policyAttachment/i.test(r.type)));
        });

        it("tags every AWS resource that takes tags with Name, project, stack and pool", () => {
            const untaggable = new Set([T.association, T.power]);
            const aws = prod.resources.filter((r) => r.type.startsWith("aws:") && !untaggable.has(r.type));
            assert.ok(aws.length >= 10);
            for (const r of aws) {
                const tags = r.inputs.tags ?? {};
                for (const key of ["Name", "project", "stack", "pool"]) assert.ok(tags[key], `${r.type} ${r.name} has no ${key} tag`);
                assert.strictEqual(tags.stack, "prod");
                assert.strictEqual(tags.project, "truss-base-images");
            }
            for (const i of all(prod, T.instance)) assert.deepStrictEqual(i.inputs.rootBlockDevice.tags, i.inputs.tags);
        });

        it("user data is the rendered setup with the runner's own host key and the operator's public key, sent as a secret", async () => {
            const gpu = inputsOf(options, T.instance, "runner-gpu-0");
            const hostKey = options.rec.get(T.hostKey, "runner-gpu-0-host-key").resource as unknown as {
                publicKey: pulumi.Output<string>;
                privateKey: pulumi.Output<string>;
            };
            const [privateKey, publicKey] = [await valueOf(hostKey.privateKey), await valueOf(hostKey.publicKey)];
            assert.match(publicKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\S+$/);
            assert.strictEqual(
                secretValue(gpu.userData),
                renderUserData({
                    pool: "gpu",
                    nvidiaGpu: true,
                    sshUser: "ubuntu",
                    sshPublicKey: KEY,
                    idleStopMinutes: 30,
                    hostKey: { privateKey, publicKey },
                }),
            );
            assert.strictEqual(gpu.userDataReplaceOnChange, true);
            const keys = new Set<string>();
            for (const i of all(options, T.instance)) {
                const userData: string = secretValue(i.inputs.userData);
                assert.ok(!userData.includes(FAKE_PASSWORD));
                assert.ok(!userData.includes("operator-only-key"), "the private key path is the operator's, not the runner's");
                keys.add(/ed25519_public: (\S+ \S+)/.exec(userData)![1]);
                assert.deepStrictEqual(options.rec.get(T.instance, i.name).opts.additionalSecretOutputs, ["userData", "userDataBase64"]);
                assert.strictEqual(
                    (await describeOutput(options.rec.get(T.instance, i.name).props.userData as pulumi.Output<string>)).secret,
                    true,
                );
            }
            assert.strictEqual(keys.size, all(options, T.instance).length, "every runner has a host key of its own");
        });

        it("each runner's host key is made once by the stack and kept in the state, its private half a secret output", async () => {
            for (const [name, d] of options.rec.ofType(T.hostKey)) {
                assert.match(name, /^runner-(gpu|cpu|arm64)-\d+-host-key$/);
                assert.deepStrictEqual(d.opts.additionalSecretOutputs, ["privateKey"], name);
                assert.strictEqual(
                    d.opts.parent,
                    options.rec.get("truss-base-images:index:BuildRunner", name.replace(/-\d+-host-key$/, "")).resource,
                );
            }
            const inputs = inputsOf(options, T.hostKey, "runner-gpu-0-host-key");
            assert.strictEqual(inputs.alias, "truss-base-images-prod-runner-gpu-0");
            assert.strictEqual(inputs.privateKey, undefined, "no key goes in: the provider makes it");
            const implementation = hosted("RunnerHostKey");
            const created = await implementation.create({ alias: "p-s-runner-gpu-0" });
            assert.strictEqual(created.id, "p-s-runner-gpu-0");
            assert.match(created.outs.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----/);
            assert.match(created.outs.publicKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\S+$/);
            assert.deepStrictEqual(
                await implementation.diff("id", created.outs, { alias: "p-s-runner-gpu-0" }),
                { changes: false },
                "kept across updates, whatever happens to the instance",
            );
            assert.deepStrictEqual(await implementation.diff("id", { alias: "a" }, { alias: "b" }), {
                changes: true,
                replaces: ["alias"],
                deleteBeforeReplace: false,
            });
        });

        it("spot runners are persistent requests that stop rather than terminate", () => {
            assert.deepStrictEqual(inputsOf(options, T.instance, "runner-gpu-0").instanceMarketOptions, {
                marketType: "spot",
                spotOptions: { spotInstanceType: "persistent", instanceInterruptionBehavior: "stop" },
            });
        });
    });

    describe("AMIs", () => {
        let options: RunnersDeclaration;
        before(async () => {
            options = await OPERATOR_OPTIONS();
        });

        it("looks the AMIs up at their invoke token: Amazon's Deep Learning Base GPU AMI, Canonical's Ubuntu 22.04", () => {
            const calls = prod.calls.filter((c) => c.token === GET_AMI);
            assert.strictEqual(calls.length, 3);
            const gpu = calls.find(
                (c) =>
                    (c.inputs.owners as string[])[0] === "amazon" &&
                    (c.inputs.filters as { name: string; values: string[] }[]).some(
                        (f) => f.name === "architecture" && f.values[0] === "x86_64",
                    ),
            )!;
            assert.ok(gpu, "no look-up among Amazon's images");
            const filters = Object.fromEntries((gpu.inputs.filters as { name: string; values: string[] }[]).map((f) => [f.name, f.values]));
            assert.deepStrictEqual(filters.name, ["Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *"]);
            assert.deepStrictEqual(filters.architecture, ["x86_64"]);
            assert.strictEqual(gpu.inputs.mostRecent, true);
            assert.strictEqual(inputsOf(prod, T.instance, "runner-gpu-0").ami, FAKE_AMIS.amazon.x86_64);
            assert.strictEqual(inputsOf(prod, T.instance, "runner-cpu-0").ami, FAKE_AMIS["099720109477"].x86_64);
        });

        it("a new AMI release does not replace a runner: the looked-up id is ignored once the instance exists", () => {
            const { rec } = prod;
            for (const name of ["runner-gpu-0", "runner-cpu-0", "runner-arm64-0"])
                assert.deepStrictEqual(rec.get(T.instance, name).opts.ignoreChanges, ["ami"]);
        });

        it("an ami in config skips the look-up, and changing it replaces the runner (it is not ignored)", () => {
            const { rec } = options;
            const owners = options.calls.filter((c) => c.token === GET_AMI).map((c) => (c.inputs.owners as string[])[0]);
            assert.deepStrictEqual(owners, ["099720109477", "amazon"], "only the cpu and arm64 pools look their AMIs up");
            assert.strictEqual(inputsOf(options, T.instance, "runner-gpu-0").ami, OPERATOR_AMI);
            assert.deepStrictEqual(rec.get(T.instance, "runner-gpu-0").opts.ignoreChanges, []);
        });
    });

    describe("power: start a runner only for work", () => {
        let building: RunnersDeclaration;
        let idle: RunnersDeclaration;
        before(async () => {
            building = await BUILDING();
            idle = await IDLE();
        });

        it("a runner's power state is replaced with its work ticket, and never updated: a refresh's \"stopped\" changes nothing", () => {
            for (const { rec } of [building, idle]) {
                for (const runner of ["gpu-0", "cpu-0"]) {
                    const power = rec.get(T.power, `runner-${runner}-power`);
                    assert.strictEqual(power.props.state, "running");
                    assert.deepStrictEqual(power.opts.replaceWith, [rec.get(T.ticket, `runner-${runner}-work`).resource]);
                    assert.deepStrictEqual(power.opts.ignoreChanges, ["state"]);
                }
            }
        });

        it("a runner's ticket and gate carry the images it builds in this update, and nothing when it builds none", () => {
            const { plan } = building;
            const gpuBuilds = plan
                .filter((p) => p.spec.accelerator === "gpu")
                .map((p) => p.reference)
                .sort();
            assert.deepStrictEqual(inputsOf(building, T.gate, "runner-gpu-0-ready").builds, gpuBuilds);
            assert.deepStrictEqual(inputsOf(building, T.ticket, "runner-gpu-0-work").builds, gpuBuilds);
            for (const runner of ["gpu-0", "cpu-0"]) {
                assert.deepStrictEqual(inputsOf(idle, T.gate, `runner-${runner}-ready`).builds, []);
                assert.deepStrictEqual(inputsOf(idle, T.ticket, `runner-${runner}-work`).builds, []);
            }
        });

        it("retagged images need no runner; one GPU image to build involves only the GPU runner", async () => {
            const target = "docker.io/baseten/truss-server-base:3.10-gpu-v0.13.0";
            const declared = await runnersFor((p) => (p.reference === target ? "build" : "retag"));
            assert.deepStrictEqual(inputsOf(declared, T.gate, "runner-gpu-0-ready").builds, [target]);
            assert.deepStrictEqual(inputsOf(declared, T.ticket, "runner-gpu-0-work").builds, [target]);
            assert.deepStrictEqual(inputsOf(declared, T.gate, "runner-cpu-0-ready").builds, []);
            assert.deepStrictEqual(inputsOf(declared, T.ticket, "runner-cpu-0-work").builds, []);
        });

        it("the work ticket is replaced, and the gate checks, exactly when there is something to build; a smoke test re-runs only for a new digest", async () => {
            const ticket = (builds: string[]) => hosted("WorkTicket").diff("id", { builds: ["a"] }, { builds });
            assert.deepStrictEqual(await ticket([]), { changes: false });
            assert.deepStrictEqual(
                await ticket(["a"]),
                { changes: true, replaces: ["builds"], deleteBeforeReplace: false },
                "the same work again: the runner may have stopped since",
            );
            const gate = (builds: string[]) => hosted("ReadinessGate").diff("id", { builds: ["a"] }, { builds });
            assert.deepStrictEqual(await gate([]), { changes: false });
            assert.deepStrictEqual(await gate(["a"]), { changes: true });
            const smoke = (olds: Record<string, string>, news: Record<string, string>) => hosted("SmokeTest").diff("id", olds, news);
            assert.deepStrictEqual(
                await smoke({ digest: DIGEST, host: "ssh://ubuntu@203.0.113.10" }, { digest: DIGEST, host: "ssh://ubuntu@203.0.113.99" }),
                { changes: false },
            );
            assert.deepStrictEqual(await smoke({ digest: DIGEST }, { digest: `sha256:${"cd".repeat(32)}` }), {
                changes: true,
                replaces: ["digest"],
                deleteBeforeReplace: false,
            });
        });
    });
});

const ARM64 = { instanceType: "c7g.2xlarge", count: 2, volumeSizeGiB: 100 };
/** Two GPU runners, so that an image could move between them. */
const TWO_GPUS = { gpu: { instanceType: "g6.xlarge", count: 2, volumeSizeGiB: 200 } };
const WITH_ARM64 = { builders: { ...TWO_GPUS, arm64: ARM64 } };
/** The runners of prod with two GPU runners and two c7g arm64 runners (no GPU), every image to build. */
const ARM64_POOL = once(() => runnersFor(() => "build", WITH_ARM64));

/** The plan's images again, as linux/arm64 images planned for the arm64 pool (what per-platform planning yields). */
function withArm64Images(plan: PlannedImage[]): PlannedImage[] {
    const arm = plan.map((p) => ({
        ...p,
        reference: `${p.reference}@linux/arm64`,
        resourceName: `${p.resourceName}-linux-arm64`,
        pool: "arm64" as const,
    }));
    return [...plan, ...arm];
}

describe("EC2 build runners: the arm64 pool (Pulumi mocks, the prod stack with gpu, cpu and arm64 pools)", () => {
    let arm64Pool: RunnersDeclaration;
    /** prod as committed: its arm64 pool is one g5g (ARM64 with an NVIDIA GPU). */
    let prodRunners: RunnersDeclaration;
    before(async () => {
        arm64Pool = await ARM64_POOL();
        prodRunners = await IDLE();
    });

    it("declares the arm64 runners like the others: instance, Elastic IP, power state, readiness gate, Docker provider", () => {
        const names = (type: string) =>
            all(arm64Pool, type)
                .map((r) => r.name)
                .filter((n) => n.includes("arm64"))
                .sort();
        assert.deepStrictEqual(names(T.instance), ["runner-arm64-0", "runner-arm64-1"]);
        assert.deepStrictEqual(names(T.eip), ["runner-arm64-0-eip", "runner-arm64-1-eip"]);
        assert.deepStrictEqual(names(T.power), ["runner-arm64-0-power", "runner-arm64-1-power"]);
        assert.deepStrictEqual(names(T.gate), ["runner-arm64-0-ready", "runner-arm64-1-ready"]);
        assert.deepStrictEqual(names(T.provider), ["runner-arm64-0-docker", "runner-arm64-1-docker"]);
        for (const name of ["runner-arm64-0", "runner-arm64-1"]) {
            const i = inputsOf(arm64Pool, T.instance, name);
            assert.deepStrictEqual(i.metadataOptions, { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 });
            assert.deepStrictEqual(
                [i.rootBlockDevice.encrypted, i.rootBlockDevice.volumeType, i.rootBlockDevice.volumeSize],
                [true, "gp3", 100],
            );
            assert.strictEqual(i.instanceInitiatedShutdownBehavior, "stop");
            assert.strictEqual(i.instanceType, "c7g.2xlarge");
            assert.match(secretValue(i.userData), /systemctl enable --now truss-idle-stop\.timer/, "the same idle stop");
            assert.strictEqual(
                inputsOf(arm64Pool, T.provider, `${name}-docker`).host,
                `ssh://ubuntu@${fakeRunnerAddress(name.replace("runner-", ""))}`,
            );
        }
    });

    it("arm64 runners boot arm64 AMIs: Canonical's Ubuntu 22.04 arm64 without a GPU, the ARM64 Deep Learning Base GPU AMI on g5g", () => {
        const armCalls = arm64Pool.calls.filter(
            (c) =>
                c.token === GET_AMI &&
                (c.inputs.filters as { name: string; values: string[] }[]).some(
                    (f) => f.name === "architecture" && f.values[0] === "arm64",
                ),
        );
        assert.strictEqual(armCalls.length, 1);
        const nameFilter = (c: RecordedCall) =>
            (c.inputs.filters as { name: string; values: string[] }[]).find((f) => f.name === "name")!.values;
        assert.deepStrictEqual(nameFilter(armCalls[0]), ["ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-arm64-server-*"]);
        for (const name of ["runner-arm64-0", "runner-arm64-1"])
            assert.strictEqual(inputsOf(arm64Pool, T.instance, name).ami, FAKE_AMIS["099720109477"].arm64);
        assert.strictEqual(
            inputsOf(arm64Pool, T.instance, "runner-gpu-1").ami,
            FAKE_AMIS.amazon.x86_64,
            "the amd64 pools keep x86_64 AMIs",
        );
        assert.strictEqual(inputsOf(arm64Pool, T.instance, "runner-cpu-0").ami, FAKE_AMIS["099720109477"].x86_64);
        assert.strictEqual(inputsOf(arm64Pool, T.gate, "runner-arm64-0-ready").requireRuntime, undefined);

        const gpuCall = prodRunners.calls.find((c) => c.token === GET_AMI && nameFilter(c)[0].includes("ARM64"));
        assert.ok(gpuCall, "no look-up of the ARM64 Deep Learning AMI");
        assert.deepStrictEqual(gpuCall.inputs.owners, ["amazon"]);
        assert.deepStrictEqual(nameFilter(gpuCall), ["Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *"]);
        assert.strictEqual(inputsOf(prodRunners, T.instance, "runner-arm64-0").ami, FAKE_AMIS.amazon.arm64);
        assert.strictEqual(
            inputsOf(prodRunners, T.gate, "runner-arm64-0-ready").requireRuntime,
            "nvidia",
            "a g5g runner must offer the NVIDIA runtime",
        );
        assert.match(
            secretValue(inputsOf(prodRunners, T.instance, "runner-arm64-0").userData),
            /nvidia-ctk runtime configure --runtime=docker/,
        );
    });

    it("images planned for the arm64 pool build on arm64 runners, and the arm64 gates carry exactly them", async () => {
        const declared = await runnersFor(() => "build", { builders: { arm64: ARM64 } }, withArm64Images);
        const { rec, plan } = declared;
        const arm = plan.filter((p) => p.pool === "arm64");
        assert.strictEqual(arm.length, 12);
        const gateBuilds = [0, 1].flatMap((i) => inputsOf(declared, T.gate, `runner-arm64-${i}-ready`).builds as string[]);
        assert.deepStrictEqual(gateBuilds.sort(), arm.map((p) => p.reference).sort());
        for (const i of [0, 1])
            assert.ok(inputsOf(declared, T.gate, `runner-arm64-${i}-ready`).builds.length > 0, `arm64-${i} builds nothing`);
        for (const runner of ["gpu-0", "cpu-0"]) {
            for (const ref of inputsOf(declared, T.gate, `runner-${runner}-ready`).builds as string[])
                assert.ok(!ref.includes("arm64"), `${ref} on ${runner}`);
        }
        assert.ok(rec.ofType(T.provider).some(([n]) => n === "runner-arm64-1-docker"));
    });

    it("GPU images on an arm64 pool without an NVIDIA GPU get the library-only smoke test; on g5g (prod) and on amd64 GPU runners the full one", async () => {
        const declaredChecks = (d: StackDeclaration) =>
            platformUnits(d.stack.plan).map((u) => ({ ...u, checks: inputsOf(d, T.smoke, `${u.name}-smoke`).checks }));
        const c7g = declaredChecks(await prodStack({ builders: { arm64: ARM64 } }));
        assert.strictEqual(c7g.length, 24);
        for (const u of c7g) {
            const expected = u.image.spec.accelerator === "gpu" && u.runner === "arm64-0" ? "gpu-libraries" : undefined;
            assert.strictEqual(u.checks, expected, u.name);
        }
        assert.ok(
            c7g.some((u) => u.checks === "gpu-libraries"),
            "the prod matrix has arm64 GPU images",
        );
        for (const u of declaredChecks(await PROD())) assert.strictEqual(u.checks, undefined, `${u.name}: g5g has a GPU`);
    });

    it("adding the arm64 pool moves no amd64 image to another runner", async () => {
        const providerOf = async ({ plan, runners }: RunnersDeclaration) => {
            const out = new Map<string, string | undefined>();
            for (const image of plan) out.set(image.reference, await providerName(runners.providerFor(image)!));
            return out;
        };
        const before = await providerOf(
            await runnersFor(() => "build", { builders: { ...TWO_GPUS, arm64: undefined }, platforms: ["linux/amd64"] }),
        );
        const after = await providerOf(arm64Pool);
        assert.strictEqual(before.size, 12);
        assert.deepStrictEqual([...after.entries()], [...before.entries()]);
        assert.strictEqual(new Set(before.values()).size, 3, "both GPU runners and the CPU runner build (else the test proves little)");
    });
});

describe("EC2 build runners: access ssm (Pulumi mocks, the prod stack)", () => {
    const SSM = { access: "ssm", allowedCidrs: undefined };
    /** The runners of prod with access ssm, nothing to build. */
    const SSM_RUNNERS = once(() => runnersFor(() => "unchanged", { builders: SSM }));
    let ssm: RunnersDeclaration;
    before(async () => {
        ssm = await SSM_RUNNERS();
    });

    it("no security group lets anything in, whatever allowedCidrs held for ssh; egress stays open for builds", () => {
        const groups = all(ssm, T.securityGroup);
        assert.strictEqual(groups.length, 3);
        for (const g of groups) {
            assert.deepStrictEqual(g.inputs.ingress ?? [], [], g.name);
            assert.match(g.inputs.description, /no inbound at all/);
            assert.deepStrictEqual(
                g.inputs.egress.map((e: any) => e.cidrBlocks),
                [["0.0.0.0/0"]],
            );
        }
    });

    it("each pool's instance role gets AmazonSSMManagedInstanceCore, and nothing else", () => {
        const attachments = all(ssm, T.policyAttachment);
        assert.deepStrictEqual(attachments.map((a) => a.name).sort(), ["runner-arm64-ssm", "runner-cpu-ssm", "runner-gpu-ssm"]);
        for (const a of attachments) assert.strictEqual(a.inputs.policyArn, "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore");
        for (const r of all(ssm, T.role)) {
            assert.strictEqual(r.inputs.inlinePolicies, undefined);
            assert.strictEqual(r.inputs.managedPolicyArns, undefined);
        }
    });

    it("hosts are known at preview, even before any Elastic IP exists, and the provider tunnels through Session Manager", async () => {
        const preview = await runnersFor(() => "build", { builders: SSM, preview: true, existingEips: [] });
        for (const runner of ["gpu-0", "cpu-0"]) {
            const host = preview.rec.get(T.provider, `runner-${runner}-docker`).props.host as pulumi.Output<string>;
            assert.deepStrictEqual(await describeOutput(host), { known: true, secret: false }, runner);
            assert.strictEqual(await valueOf(host), `ssh://ubuntu@truss-base-images-prod-runner-${runner}`);
            const sshOpts: string[] = JSON.parse(inputsOf(preview, T.provider, `runner-${runner}-docker`).sshOpts);
            const proxy = sshOpts.find((o) => o.startsWith("ProxyCommand="));
            assert.ok(proxy, sshOpts.join(" "));
            assert.ok(proxy.includes(`/.ssh/truss-base-images/truss-base-images-prod-runner-${runner}.instance`), proxy);
            assert.ok(!proxy.includes("describe-instances") && proxy.includes("--region us-east-1"), proxy);
            assert.ok(proxy.includes("--document-name AWS-StartSSHSession"), proxy);
            const gate = inputsOf(preview, T.gate, `runner-${runner}-ready`);
            assert.strictEqual(gate.access, "ssm");
            assert.strictEqual(gate.expectedHost, undefined, "no Elastic IP to compare with: the host is a name");
            assert.deepStrictEqual(sshOptions(gate.ssh), sshOpts, "the gate dials exactly as the provider does");
        }
        assert.ok(!preview.calls.some((c) => c.token === GET_EIPS), "no address look-up under Session Manager");
    });

    it("the gate pins the runner's key and the instance of the state, which the tunnel goes to", () => {
        for (const runner of ["gpu-0", "cpu-0"]) {
            const gate = inputsOf(ssm, T.gate, `runner-${runner}-ready`);
            assert.strictEqual(gate.instanceId, `runner-${runner}-id`, runner);
            assert.strictEqual(gate.ssh.hostKeyAlias, `truss-base-images-prod-runner-${runner}`);
            assert.match(gate.hostKey, /^ssh-ed25519 /);
        }
    });

    it("smoke tests pin what the gate pins, the instance of the state included (a re-run test may have no gate before it)", async () => {
        const stack = await prodStack({ builders: SSM });
        const smokes = all(stack, T.smoke);
        assert.strictEqual(smokes.length, 24);
        for (const smoke of smokes) {
            const gate = inputsOf(stack, T.gate, `runner-${smoke.inputs.runner}-ready`);
            assert.strictEqual(smoke.inputs.instanceId, gate.instanceId, smoke.name);
            assert.strictEqual(smoke.inputs.hostKey, gate.hostKey, smoke.name);
            assert.deepStrictEqual(smoke.inputs.ssh, gate.ssh, smoke.name);
        }
    });

    it("replacing an instance (a new AMI) changes neither the host nor the ssh options of its provider", async () => {
        const provider = (d: Declaration) => {
            const p = inputsOf(d, T.provider, "runner-gpu-0-docker");
            return { host: p.host, sshOpts: p.sshOpts, ami: inputsOf(d, T.instance, "runner-gpu-0").ami };
        };
        // prod's GPU pool (one g6.xlarge, 200 GiB): its AMI looked up, then the same pool with an ami in config.
        const before = provider(ssm);
        const after = provider(
            await runnersFor(() => "unchanged", {
                builders: { ...SSM, gpu: { instanceType: "g6.xlarge", count: 1, volumeSizeGiB: 200, ami: "ami-0123456789abcdef0" } },
            }),
        );
        assert.notStrictEqual(after.ami, before.ami, "the instance is replaced (its AMI changes)");
        assert.deepStrictEqual({ host: after.host, sshOpts: after.sshOpts }, { host: before.host, sshOpts: before.sshOpts });
    });
});
