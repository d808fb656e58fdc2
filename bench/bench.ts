// `npm run bench`: prints figures (medians over repeated runs, measured in the same run); it
// asserts nothing. Targets are in README.md, "Benchmarks".
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadCatalog } from "../src/images/catalog";
import { parseStackConfig, SECRET_PRESENT } from "../src/config/stackConfig";
import { writeContext } from "../src/images/context";
import { LABELS } from "../src/images/labels";
import { planImages } from "../src/publish/plannedImages";
import { CLI_PASSWORD_FROM, planPublish, registryClientFor } from "../src/publish/publishPlan";
import { startRegistry } from "../test/support/registry";
import { pushImage } from "../test/support/registryImages";
import { readStackFile } from "../src/config/stackFile";

const ROOT = path.resolve(__dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 9);

const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;

function timeMs(f: () => void): number {
    const t = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - t) / 1e6;
}

function prodConfig() {
    const file = readStackFile(ROOT, "prod");
    const catalog = loadCatalog();
    return { catalog, config: parseStackConfig({ ...file.config, registryPassword: SECRET_PRESENT }, catalog, file.source) };
}

function benchStaging(): void {
    const inMemory: number[] = [];
    const withWrite: number[] = [];
    let count = 0;
    for (let i = 0; i < RUNS; i++) {
        inMemory.push(
            timeMs(() => {
                const { config, catalog } = prodConfig();
                count = planImages(config, catalog).length;
            }),
        );
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "truss-bench-"));
        withWrite.push(
            timeMs(() => {
                const { config, catalog } = prodConfig();
                for (const p of planImages(config, catalog)) writeContext(dir, p.staged);
            }),
        );
        fs.rmSync(dir, { recursive: true, force: true });
    }
    console.log(`staging + digesting the prod matrix (${count} images, catalog read included), median of ${RUNS}:`);
    console.log(`  in memory:                       ${fmt(median(inMemory))}`);
    console.log(`  and written to a fresh folder:   ${fmt(median(withWrite))}   (target: under 150 ms)`);
}

function child(args: string[]): { wallMs: number; stdout: string } {
    const t = process.hrtime.bigint();
    const stdout = execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", ...args], {
        cwd: ROOT,
        encoding: "utf8",
        env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" },
    });
    return { wallMs: Number(process.hrtime.bigint() - t) / 1e6, stdout };
}

function benchDeclare(variant: "full" | "images-only", label: string): void {
    const baseline: number[] = [];
    const whole: number[] = [];
    const declare: number[] = [];
    let images = 0;
    for (let i = 0; i < RUNS; i++) {
        baseline.push(child(["-e", 'require("@pulumi/pulumi")']).wallMs);
        const run = child([path.join("bench", "declareProd.ts"), variant]);
        whole.push(run.wallMs);
        const figures = JSON.parse(run.stdout.trim().split("\n").pop() as string);
        declare.push(figures.declareMs);
        images = figures.images;
    }
    const mb = median(baseline);
    const mw = median(whole);
    console.log(`declaring ${label} under mocks (${images} images), median of ${RUNS} processes:`);
    console.log(`  declaring, first resource to resolved outputs:   ${fmt(median(declare))}   (target: under 1 s)`);
    console.log(`  process that only imports @pulumi/pulumi:        ${fmt(mb)}`);
    console.log(`  process that declares the stack:                 ${fmt(mw)}`);
    console.log(`  difference (also transpiles our TypeScript):     ${fmt(mw - mb)}`);
}

async function benchRegistryPlan(): Promise<void> {
    const registry = await startRegistry();
    try {
        const { config, catalog } = prodConfig();
        const previous = { ...config, versionTag: "v0.2.1", registry: { server: registry.host, namespace: "baseten" } };
        for (const image of planImages(previous, catalog)) {
            await pushImage({ url: registry.url }, image.repository.slice(registry.host.length + 1), image.tag, {
                labels: { [LABELS.contentDigest]: image.contentDigest },
                layerText: image.reference,
            });
        }
        const current = { ...previous, versionTag: config.versionTag };
        const times: number[] = [];
        let perImage = 0;
        let actions = "";
        for (let i = 0; i < RUNS; i++) {
            const client = registryClientFor(current, undefined, { passwordFrom: CLI_PASSWORD_FROM });
            const t = process.hrtime.bigint();
            const plan = await planPublish(current, catalog, client);
            times.push(Number(process.hrtime.bigint() - t) / 1e6);
            perImage = client.stats.requests / plan.images.length;
            actions = [...new Set(plan.images.map((p) => p.action))].join(", ");
        }
        console.log(
            `planning the prod matrix against a local registry holding the previous version (actions: ${actions}), median of ${RUNS}:`,
        );
        console.log(`  wall time (staging, digests and every registry request):   ${fmt(median(times))}   (target: under 1 s)`);
        console.log(`  HTTP requests per image:                                   ${perImage.toFixed(2)}   (target: at most 3)`);
    } finally {
        await registry.stop();
    }
}

async function main(): Promise<void> {
    console.log(`truss-base-images benchmarks (node ${process.version}, ${os.cpus().length} cores)\n`);
    benchStaging();
    console.log("");
    benchDeclare("images-only", "the prod matrix as docker.Images only (local builder, push false)");
    console.log("");
    benchDeclare("full", "the full prod stack (EC2 runners, registry tags, smoke tests)");
    console.log("");
    await benchRegistryPlan();
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
