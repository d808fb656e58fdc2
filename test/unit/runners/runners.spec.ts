import * as assert from "assert";
import { execFileSync } from "child_process";
import { Ec2BuildersConfig, poolOf } from "../../../src/config/runners";
import { loadCatalog } from "../../../src/images/catalog";
import { parseStackConfig } from "../../../src/config/stackConfig";
import type { ImageSpec } from "../../../src/images/spec";
import { expandMatrix, Matrix } from "../../../src/images/matrix";
import { repository } from "../../../src/images/naming";
import { planImages } from "../../../src/publish/plannedImages";
import {
    AMI_QUERIES,
    AssignableImage,
    assignmentKey,
    assignRunners,
    dockerCommand,
    needsRunner,
    notReadyMessage,
    parseDockerInfo,
    parseSshHost,
    pickRunner,
    reachabilityNote,
    readFailure,
    readinessSteps,
    runnerId,
    runnersOf,
    runnerTags,
    shellQuote,
    showCommand,
    sshDockerHost,
    sshOptions,
} from "../../../src/runners/runners";

const catalog = loadCatalog();
const REGISTRY = { server: "docker.io", namespace: "baseten" };
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1RUq2k3nLUbGN6zC4FfEA+GiDpisq6QU2xRiCHLdza operator@example";

function builders(gpu: number, cpu?: number, cidrs: string[] = ["203.0.113.7/32"]): Ec2BuildersConfig {
    const config = parseStackConfig(
        {
            versionTag: "v1",
            registry: REGISTRY,
            matrix: { jobTypes: ["server"], pythonVersions: ["3.9"], gpu: [true], liveReload: [false] },
            builders: {
                mode: "ec2",
                gpu: { instanceType: "g6.xlarge", count: gpu, volumeSizeGiB: 200 },
                ...(cpu === undefined ? {} : { cpu: { instanceType: "c7i.2xlarge", count: cpu, volumeSizeGiB: 100 } }),
                sshPublicKey: KEY,
                allowedCidrs: cidrs,
            },
        },
        catalog,
        "test",
    );
    if (config.builders.mode !== "ec2") throw new Error("expected ec2 builders");
    return config.builders;
}

function images(pythonVersions: string[], b: Ec2BuildersConfig, jobTypes = ["server", "training"]): AssignableImage[] {
    const matrix: Matrix = { jobTypes, pythonVersions, gpu: [false, true], liveReload: [false, true] };
    return expandMatrix(matrix).map((spec: ImageSpec) => ({
        spec,
        repository: repository(REGISTRY, spec.jobType),
        pool: poolOf(spec.accelerator, b),
    }));
}

/** image key -> runner name */
function placement(list: AssignableImage[], b: Ec2BuildersConfig): Map<string, string> {
    const runners = assignRunners(list, b);
    return new Map(list.map((image, i) => [assignmentKey(image), runners[i].name]));
}

function moved(before: Map<string, string>, after: Map<string, string>): string[] {
    return [...before.keys()].filter((k) => after.has(k) && after.get(k) !== before.get(k));
}

describe("runner assignment", () => {
    it("names runners by pool and index, gpu pool first", () => {
        assert.deepStrictEqual(
            runnersOf(builders(2, 1)).map((r) => r.name),
            ["gpu-0", "gpu-1", "cpu-0"],
        );
        assert.deepStrictEqual(
            runnersOf(builders(1)).map((r) => r.name),
            ["gpu-0"],
        );
    });

    it("keys an image by repository and variant, never by version tag", () => {
        const [image] = images(["3.9"], builders(1)).filter((i) => i.spec.accelerator === "gpu" && i.spec.liveReload);
        assert.strictEqual(assignmentKey(image), "docker.io/baseten/truss-server-base:3.9-gpu-reload");
    });

    it("puts GPU images on gpu runners and CPU images on cpu runners (or gpu runners without a cpu pool)", () => {
        for (const b of [builders(2, 2), builders(2)]) {
            const list = images(["3.9", "3.10", "3.11"], b);
            const runners = assignRunners(list, b);
            list.forEach((image, i) => {
                const expected = image.spec.accelerator === "gpu" || b.cpu === undefined ? "gpu" : "cpu";
                assert.strictEqual(runners[i].pool, expected, `${assignmentKey(image)} on ${runners[i].name}`);
            });
        }
    });

    it("is deterministic and does not depend on the order of the images", () => {
        const b = builders(3, 2);
        const list = images(["3.9", "3.10", "3.11", "3.12"], b);
        const forward = placement(list, b);
        const backward = placement([...list].reverse(), b);
        assert.deepStrictEqual([...forward.entries()].sort(), [...backward.entries()].sort());
    });

    it("adding or removing a python version moves no other image", () => {
        const b = builders(3, 2);
        const three = placement(images(["3.9", "3.10", "3.11"], b), b);
        const four = placement(images(["3.9", "3.10", "3.11", "3.12"], b), b);
        const two = placement(images(["3.10", "3.11"], b), b);
        assert.deepStrictEqual(moved(three, four), []);
        assert.deepStrictEqual(moved(three, two), []);
        assert.strictEqual(four.size, three.size + 8);
    });

    it("a version bump moves no image: the version tag is not in the key", () => {
        const plan = (versionTag: string) => {
            const config = parseStackConfig(
                {
                    versionTag,
                    registry: REGISTRY,
                    matrix: {
                        jobTypes: ["server", "training"],
                        pythonVersions: ["3.9", "3.10", "3.11"],
                        gpu: [false, true],
                        liveReload: [false, true],
                    },
                    builders: {
                        mode: "ec2",
                        gpu: { instanceType: "g6.xlarge", count: 4, volumeSizeGiB: 200 },
                        sshPublicKey: KEY,
                        allowedCidrs: [],
                    },
                },
                catalog,
                "test",
            );
            if (config.builders.mode !== "ec2") throw new Error("expected ec2 builders");
            const planned = planImages(config, catalog);
            return new Map(
                assignRunners(planned, config.builders).map((r, i) => [
                    `${planned[i].repository}:${planned[i].tag.replace(versionTag, "")}`,
                    r.name,
                ]),
            );
        };
        const before = plan("v0.2.2");
        const after = plan("v0.3.0");
        assert.strictEqual(before.size, 24);
        assert.deepStrictEqual([...after.entries()].sort(), [...before.entries()].sort());
    });

    it("adding a runner moves images only onto it; removing one moves only its images", () => {
        const list = (b: Ec2BuildersConfig) => images(["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14"], b);
        const two = placement(list(builders(2, 1)), builders(2, 1));
        const three = placement(list(builders(3, 1)), builders(3, 1));
        const movedOnAdd = moved(two, three);
        assert.ok(movedOnAdd.length > 0, "the new runner takes some images (else the test proves nothing)");
        for (const key of movedOnAdd) assert.strictEqual(three.get(key), "gpu-2", `${key} moved from ${two.get(key)} to ${three.get(key)}`);
        const movedOnRemove = moved(three, two);
        for (const key of movedOnRemove)
            assert.strictEqual(three.get(key), "gpu-2", `${key} was on ${three.get(key)}, not on the removed runner`);
        const cpuTwo = placement(list(builders(2, 2)), builders(2, 2));
        for (const key of moved(two, cpuTwo)) assert.strictEqual(cpuTwo.get(key), "cpu-1");
    });

    it("shares images evenly between runners: within 10% of an equal share over many images", () => {
        const runners = [0, 1, 2, 3].map((i) => runnerId("gpu", i));
        const counts = new Map<string, number>();
        for (let i = 0; i < 4000; i++) {
            const r = pickRunner(`docker.io/baseten/truss-job${i % 40}-base:3.${i}-gpu`, runners).name;
            counts.set(r, (counts.get(r) ?? 0) + 1);
        }
        for (const r of runners) {
            const share = (counts.get(r.name) ?? 0) / 4000;
            assert.ok(Math.abs(share - 0.25) < 0.025, `${r.name} got ${(share * 100).toFixed(1)}%`);
        }
    });

    it("gives every runner of a pool work in the prod matrix", () => {
        for (const count of [2, 3]) {
            const b = builders(count, 1);
            const used = new Set(assignRunners(images(["3.9", "3.10", "3.11", "3.12"], b), b).map((r) => r.name));
            for (let i = 0; i < count; i++) assert.ok(used.has(`gpu-${i}`), `gpu-${i} of ${count} builds nothing`);
        }
    });

    it("needs a runner only to build: a retag copies a manifest, an unchanged image needs nothing", () => {
        assert.deepStrictEqual((["build", "conflict", "retag", "unchanged"] as const).map(needsRunner), [true, true, false, false]);
    });
});

describe("reaching a runner", () => {
    it("gives the Docker provider one shared, non-interactive ssh connection with its own known_hosts", () => {
        const opts = sshOptions({});
        const o = (i: number) => `${opts[i]} ${opts[i + 1]}`;
        const pairs = opts.map((_, i) => (i % 2 === 0 ? o(i) : undefined)).filter((p): p is string => p !== undefined);
        for (const expected of [
            "-o BatchMode=yes",
            "-o ControlMaster=auto",
            "-o ControlPath=~/.ssh/truss-base-images/cm-%C",
            "-o ControlPersist=10m",
            "-o StrictHostKeyChecking=accept-new",
            "-o UserKnownHostsFile=~/.ssh/truss-base-images/known_hosts",
            "-o ConnectTimeout=15",
        ]) {
            assert.ok(pairs.includes(expected), `missing ${expected} in ${opts.join(" ")}`);
        }
        assert.ok(!opts.includes("-i"), "no key file unless configured: the ssh agent");
        assert.deepStrictEqual(sshOptions({ privateKeyPath: "~/.ssh/truss-builders" }).slice(-4), [
            "-i",
            "~/.ssh/truss-builders",
            "-o",
            "IdentitiesOnly=yes",
        ]);
    });

    it("the ssh client accepts the options and expands ~ itself (ssh -G)", () => {
        const out = execFileSync("ssh", ["-G", ...sshOptions({}), "ubuntu@203.0.113.10"], {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
        });
        const setting = (k: string) => new RegExp(`^${k} (.*)$`, "m").exec(out)?.[1];
        assert.strictEqual(setting("user"), "ubuntu");
        assert.strictEqual(setting("stricthostkeychecking"), "accept-new");
        assert.strictEqual(setting("batchmode"), "yes");
        assert.match(setting("userknownhostsfile") ?? "", /^\/.*\/\.ssh\/truss-base-images\/known_hosts$/);
        assert.match(setting("controlpath") ?? "", /^\/.*\/\.ssh\/truss-base-images\/cm-[0-9a-f]{40}$/);
    });

    it("runs docker commands over ssh with the provider's options, and locally with -H", () => {
        const endpoint = { host: sshDockerHost("ubuntu", "203.0.113.10"), sshOpts: sshOptions({}) };
        const remote = dockerCommand(endpoint, ["info", "--format", "{{.ServerVersion}}"]);
        assert.strictEqual(remote.file, "ssh");
        assert.deepStrictEqual(remote.args.slice(0, endpoint.sshOpts.length), endpoint.sshOpts);
        assert.deepStrictEqual(remote.args.slice(-3), ["ubuntu@203.0.113.10", "--", "docker info --format '{{.ServerVersion}}'"]);
        assert.deepStrictEqual(dockerCommand({ host: "unix:///var/run/docker.sock" }, ["info"]), {
            file: "docker",
            args: ["-H", "unix:///var/run/docker.sock", "info"],
        });
        assert.deepStrictEqual(parseSshHost("ssh://ubuntu@203.0.113.10:2222"), { user: "ubuntu", hostname: "203.0.113.10", port: 2222 });
        assert.strictEqual(parseSshHost("unix:///var/run/docker.sock"), undefined);
    });

    it("quotes words for the remote shell so that they arrive unchanged", () => {
        const words = ["plain", "it's", "$HOME", "a b", "{{json .Runtimes}}", "", "semi;colon", "back\\slash"];
        const echoed = execFileSync("sh", ["-c", `printf '%s\\n' ${words.map(shellQuote).join(" ")}`], { encoding: "utf8" });
        assert.deepStrictEqual(echoed.split("\n").slice(0, -1), words);
        assert.strictEqual(showCommand({ file: "docker", args: ["run", "a b"] }), "docker run 'a b'");
    });
});

describe("readiness steps", () => {
    const endpoint = { host: "ssh://ubuntu@203.0.113.10", sshOpts: sshOptions({}) };

    it("over ssh: cloud-init on its own connection, then the provider's shared connection, fresh, for docker info", () => {
        const steps = readinessSteps(endpoint, { waitForCloudInit: true });
        assert.deepStrictEqual(
            steps.map((s) => s.what),
            [
                "ssh answers and cloud-init finished",
                "no shared ssh connection predates the runner's setup",
                "the Docker daemon answers `docker info`",
            ],
        );
        const [cloudInit, exit, info] = steps;
        // ssh keeps the first value of an option: ask ssh itself what the command line means.
        const effective = (args: readonly string[], key: string) => {
            const dest = args.indexOf("ubuntu@203.0.113.10");
            const out = execFileSync("ssh", ["-G", ...args.slice(0, dest).filter((a) => a !== "-T"), "ubuntu@203.0.113.10"], {
                encoding: "utf8",
                stdio: ["ignore", "pipe", "pipe"],
            });
            return new RegExp(`^${key} (.*)$`, "m").exec(out)?.[1];
        };
        assert.strictEqual(effective(cloudInit.command.args, "controlmaster"), "false");
        assert.strictEqual(effective(cloudInit.command.args, "controlpath"), undefined, "no control socket for the setup wait");
        assert.strictEqual(effective(info.command.args, "controlmaster"), "auto");
        assert.match(cloudInit.command.args[cloudInit.command.args.length - 1], /^cloud-init status --wait/);
        assert.deepStrictEqual(cloudInit.okExitCodes, [0, 2], "2 is cloud-init's 'done with recoverable errors'");
        assert.ok(exit.command.args.join(" ").includes("-O exit"));
        assert.deepStrictEqual(info.command.args.slice(0, endpoint.sshOpts.length), endpoint.sshOpts, "the provider's options, verbatim");
        assert.match(info.command.args[info.command.args.length - 1], /^docker info --format/);
    });

    it("locally: docker info against the socket, nothing else", () => {
        const steps = readinessSteps({ host: "unix:///var/run/docker.sock" }, { waitForCloudInit: true });
        assert.strictEqual(steps.length, 1);
        assert.deepStrictEqual(steps[0].command.args.slice(0, 3), ["-H", "unix:///var/run/docker.sock", "info"]);
    });

    it("reads docker info's version and runtimes", () => {
        assert.deepStrictEqual(parseDockerInfo("27.3.1 io.containerd.runc.v2,nvidia,runc,\n"), {
            serverVersion: "27.3.1",
            runtimes: ["io.containerd.runc.v2", "nvidia", "runc"],
        });
    });

    it("waits out what booting explains, stops at once on what it does not, and says what to do", () => {
        const [cloudInit, , info] = readinessSteps(endpoint, { waitForCloudInit: true });
        const read = (step: typeof info, code: number, out: string) => readFailure(step, code, out, { host: endpoint.host });
        assert.match(
            read(cloudInit, 255, "ssh: connect to host 203.0.113.10 port 22: Connection timed out").hint ?? "",
            /builders\.allowedCidrs/,
        );
        assert.strictEqual(read(cloudInit, 255, "ssh: connect to host 203.0.113.10 port 22: Connection timed out").retry, true);
        assert.strictEqual(read(cloudInit, 255, "ssh: connect to host 203.0.113.10 port 22: Connection refused").retry, true);
        const key = read(cloudInit, 255, "ubuntu@203.0.113.10: Permission denied (publickey).");
        assert.ok(key.retry && /ssh-add|sshPrivateKeyPath/.test(key.hint ?? ""), key.hint);
        const changed = read(info, 255, "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.");
        assert.ok(
            !changed.retry && (changed.hint ?? "").includes("ssh-keygen -R 203.0.113.10 -f ~/.ssh/truss-base-images/known_hosts"),
            changed.hint,
        );
        const setupFailed = read(cloudInit, 1, "status: error\n...");
        assert.ok(!setupFailed.retry && /user data/.test(setupFailed.hint ?? ""));
        assert.strictEqual(
            read(info, 1, "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock").retry,
            true,
        );
        assert.strictEqual(
            read(info, 1, "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?").retry,
            true,
        );
        assert.strictEqual(read(info, 127, "bash: docker: command not found").retry, false);
    });

    it("fails with a message naming the runner, its address, the check, its output and the cause", () => {
        const [, , info] = readinessSteps(endpoint, { waitForCloudInit: true });
        const message = notReadyMessage({
            runner: "gpu-0",
            host: endpoint.host,
            seconds: 900,
            timedOut: true,
            step: info,
            exitCode: 255,
            output: "ssh: connect to host 203.0.113.10 port 22: Connection timed out\n",
            hint: "nothing answered on port 22",
            configHint: reachabilityNote(builders(1, undefined, [])),
        });
        assert.match(
            message,
            /^Build runner gpu-0 \(ssh:\/\/ubuntu@203\.0\.113\.10\) was not ready within 900 s: the check "the Docker daemon answers `docker info`" failed \(exit code 255\)\./,
        );
        assert.match(message, /Connection timed out/);
        assert.match(message, /likely cause: nothing answered on port 22/);
        assert.match(message, /builders\.allowedCidrs is \[\]/);
        assert.strictEqual(reachabilityNote(builders(1)), undefined);
    });
});

describe("runner instances", () => {
    it("finds the GPU AMI by name among Amazon's images, the CPU AMI among Canonical's", () => {
        assert.deepStrictEqual(AMI_QUERIES.gpu.owners, ["amazon"]);
        assert.match(AMI_QUERIES.gpu.name, /^Deep Learning Base .*GPU AMI \(Ubuntu 22\.04\) \*$/);
        assert.deepStrictEqual(AMI_QUERIES.cpu.owners, ["099720109477"]);
        assert.match(AMI_QUERIES.cpu.name, /ubuntu-jammy-22\.04-amd64-server/);
    });

    it("tags every resource with Name, project, stack and pool, and a runner's with the runner", () => {
        assert.deepStrictEqual(runnerTags({ project: "truss-base-images", stack: "prod", pool: "gpu", runner: runnerId("gpu", 0) }), {
            Name: "truss-base-images-prod-runner-gpu-0",
            project: "truss-base-images",
            stack: "prod",
            pool: "gpu",
            runner: "gpu-0",
        });
        assert.strictEqual(runnerTags({ project: "p", stack: "s", pool: "cpu" }).Name, "p-s-runners-cpu");
    });
});
