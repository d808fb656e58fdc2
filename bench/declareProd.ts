// Child process of bench/bench.ts: imports Pulumi, then declares the prod stack under mocks and
// waits for its outputs. Prints its own timings, and the state estimate of what the mocks
// recorded (test/support/stateSize.ts), as JSON on the last line. With the argument
// `images-only`, the prod matrix is declared on the local builder with push false: the
// docker.Images alone, without runners, registry tags or smoke tests.
const t0 = process.hrtime.bigint();
import * as pulumi from "@pulumi/pulumi";
const tImported = process.hrtime.bigint();
void pulumi;
import { declareMockStack } from "../test/support/stacks";
import { mockOutputs, recorded, valueOf } from "../test/support/pulumiMocks";
import { estimateState } from "../test/support/stateSize";

async function main(): Promise<void> {
    const tStart = process.hrtime.bigint();
    const imagesOnly = process.argv.includes("images-only");
    // Prod's linux/arm64 images on the local builder would need QEMU on this machine; under mocks
    // nothing is built, so the daemon is named remote, which skips that check (and only it).
    if (imagesOnly) process.env.DOCKER_HOST = "tcp://bench.invalid:2375";
    const stack = declareMockStack("prod", {
        overrides: imagesOnly ? { "truss-base-images:builders": { mode: "local" }, "truss-base-images:push": false } : {},
    });
    mockOutputs("docker:index/image:Image", (args) => ({ repoDigest: `${args.inputs.imageName}@sha256:${"0".repeat(64)}` }));
    const out = await valueOf(stack.output);
    const tEnd = process.hrtime.bigint();
    const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;
    const state = estimateState(recorded());
    console.log(JSON.stringify({ images: Object.keys(out).length, importMs: ms(t0, tImported), declareMs: ms(tStart, tEnd), state }));
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
