// `npm run bench:images`: what Truss's server base image costs, built for real (too slow for
// `npm run bench`). For python 3.11 and 3.13, on the stand-in parents, with Truss's own server
// requirements from the pinned wheel (test/support/trussWheel.ts) and the classic builder of the
// local Docker daemon:
// - cold build: `docker build --no-cache` (the parent present, every step run, pip downloading);
// - rebuild after a one-line edit of requirements.txt (a requirement added at the end), with the
//   layer cache of the cold build: the steps from the COPY of requirements.txt on run again;
// - size: uncompressed (the daemon's image size) and compressed (the gzip layers and config
//   pushed to a loopback registry), each with the stand-in parent's share.
// One run each: a build takes minutes; on a shared machine read the ratio, not the seconds.
// Then, for the 3.11 image, the eStargz-vs-gzip start-up figure (bench/stargzStartup.ts).
// BENCH_STARTUP_IMAGE=<a local image> skips the builds and gives only that figure, for that image.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadStack } from "../src/config/definition";
import { SECRET_PRESENT } from "../src/config/stackConfig";
import { writeContext } from "../src/images/context";
import { planImages } from "../src/publish/plannedImages";
import { buildCommandArgs, docker, ensureDockerDaemon } from "../test/support/docker";
import { startRegistry, TestRegistry } from "../test/support/registry";
import { stargzStartup } from "./stargzStartup";
import { ensureStandIn, STAND_IN_PYTHONS } from "../test/support/standIns";
import { PROJECT_DIR } from "../test/support/fixtures";
import { trussWheelCheckout, TRUSS_VERSION } from "../test/support/trussWheel";

const MB = 1024 * 1024;
const mb = (bytes: number): string => `${(bytes / MB).toFixed(0)} MB`;
const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function timed(f: () => Promise<unknown>): Promise<number> {
    const t = Date.now();
    await f();
    return Date.now() - t;
}

/** Compressed size: the config and layer sizes of the manifest the registry serves. */
async function pushedSize(registry: TestRegistry, local: string, repo: string): Promise<{ total: number; layers: string[] }> {
    const ref = `${registry.host}/${repo}:bench`;
    await docker(["tag", local, ref]);
    await docker(["push", ref]);
    await docker(["image", "rm", ref]);
    const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/bench`, {
        headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json" },
    });
    const m = (await res.json()) as { config: { size: number }; layers: { size: number; digest: string }[] };
    return { total: m.config.size + m.layers.reduce((a, l) => a + l.size, 0), layers: m.layers.map((l) => `${l.digest}:${l.size}`) };
}

async function imageSize(ref: string): Promise<number> {
    return Number((await docker(["image", "inspect", "--format", "{{.Size}}", ref])).stdout.trim());
}

async function main(): Promise<void> {
    await ensureDockerDaemon();
    const registry = await startRegistry();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "truss-bench-images-"));
    const made: string[] = [];
    const only = process.env.BENCH_STARTUP_IMAGE;
    try {
        if (only) {
            for (const line of await stargzStartup(registry, only)) console.log(line);
            return;
        }
        const startup: string[] = [];
        const checkout = trussWheelCheckout();
        const requirements = path.join(checkout, "truss", "templates", "server", "requirements.txt");
        const original = fs.readFileSync(requirements, "utf8");
        console.log(`Truss ${TRUSS_VERSION}'s server base image, built for real on the stand-in parents (one run each)\n`);
        for (const python of STAND_IN_PYTHONS) {
            const parent = await ensureStandIn(python, (l) => console.log(`  ${l}`));
            const plan = (edited: boolean) => {
                fs.writeFileSync(requirements, edited ? `${original}six==1.17.0\n` : original);
                const { config, catalog } = loadStack(
                    {
                        versionTag: "v0.13.0",
                        registry: { server: "docker.io", namespace: "baseten" },
                        truss: { checkout },
                        matrix: { jobTypes: ["server"], pythonVersions: [python], gpu: [false], liveReload: [false] },
                        builders: { mode: "local" },
                        parents: { [`python:${python}`]: parent },
                        registryPassword: SECRET_PRESENT,
                    },
                    { projectDir: PROJECT_DIR, source: "bench" },
                );
                return planImages(config, catalog)[0];
            };
            const ref = `truss-base-images-bench/truss-server-base:${python}-${process.pid}`;
            made.push(ref);
            const cold = plan(false);
            let failure: string | undefined;
            const coldMs = await timed(async () => {
                const dir = writeContext(work, cold.staged);
                const r = await docker(["build", "--force-rm", "--no-cache", ...buildCommandArgs(cold.staged, dir, ref).slice(1)], {
                    allowFailure: true,
                });
                if (r.code !== 0) failure = (r.stdout + r.stderr).trim().split("\n").slice(-12).join("\n");
            });
            if (failure) {
                console.log(`python ${python}: the cold build FAILED after ${s(coldMs)}:\n${failure}\n`);
                fs.writeFileSync(requirements, original);
                continue;
            }
            const edited = plan(true);
            const editedRef = `${ref}-edited`;
            made.push(editedRef);
            const rebuildMs = await timed(async () => {
                const dir = writeContext(work, edited.staged);
                await docker(["build", "--force-rm", ...buildCommandArgs(edited.staged, dir, editedRef).slice(1)]);
            });
            fs.writeFileSync(requirements, original);
            const size = await imageSize(ref);
            const parentSize = await imageSize(parent);
            const pushed = await pushedSize(registry, ref, `bench/server-${python.replace(".", "")}`);
            const parentPushed = await pushedSize(registry, parent, `bench/parent-${python.replace(".", "")}`);
            console.log(`python ${python}`);
            console.log(`  cold build (--no-cache)                     ${s(coldMs)}`);
            console.log(
                `  rebuild after a one-line requirements edit  ${s(rebuildMs)}  (${((100 * rebuildMs) / coldMs).toFixed(0)} % of cold)`,
            );
            console.log(
                `  uncompressed size                           ${mb(size)}  (stand-in parent ${mb(parentSize)}, Truss's layers ${mb(size - parentSize)})`,
            );
            console.log(
                `  compressed size (gzip layers + config)      ${mb(pushed.total)}  (stand-in parent ${mb(parentPushed.total)}, Truss's layers ${mb(pushed.total - parentPushed.total)})`,
            );
            console.log("");
            if (python === "3.11") startup.push(...(await stargzStartup(registry, ref)));
        }
        for (const line of startup.length > 0 ? startup : ["eStargz vs gzip start-up: not measured (the 3.11 build failed)"])
            console.log(line);
    } finally {
        if (made.length > 0) await docker(["image", "rm", ...made], { allowFailure: true });
        await registry.stop();
        fs.rmSync(work, { recursive: true, force: true });
    }
}

main().catch((e: Error) => {
    console.error(e.message);
    process.exitCode = 1;
});
