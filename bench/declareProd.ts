// Child process of bench/bench.ts: imports Pulumi, then declares the full prod stack under mocks
// and waits for its outputs. Prints its own timings as JSON on the last line.
const t0 = process.hrtime.bigint();
import * as pulumi from "@pulumi/pulumi";
const tImported = process.hrtime.bigint();
void pulumi;
import { declareMockStack } from "../test/support/stacks";
import { mockOutputs, valueOf } from "../test/support/pulumiMocks";

async function main(): Promise<void> {
    const tStart = process.hrtime.bigint();
    const stack = declareMockStack("prod");
    mockOutputs("docker:index/image:Image", (args) => ({ repoDigest: `${args.inputs.imageName}@sha256:${"0".repeat(64)}` }));
    const out = await valueOf(stack.output);
    const tEnd = process.hrtime.bigint();
    const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;
    console.log(JSON.stringify({ images: Object.keys(out).length, importMs: ms(t0, tImported), declareMs: ms(tStart, tEnd) }));
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
