// AWS look-ups for stacks with EC2 build runners under Pulumi's mocks: the AMI each pool boots
// (aws.ec2.getAmi) and each runner's Elastic IP read back by its tags (aws.ec2.getEips), plus
// the outputs AWS gives an Elastic IP and an instance. Call after resetMocks (declareMockStack).
import { mockInvoke, mockOutputs } from "./pulumiMocks";

export const GET_AMI = "aws:ec2/getAmi:getAmi";
export const GET_EIPS = "aws:ec2/getEips:getEips";

/** What the AMI look-up answers, by owner and architecture: Amazon's Deep Learning AMIs, Canonical's Ubuntu. */
export const FAKE_AMIS = {
    amazon: { x86_64: "ami-0d1a2b3c4d5e6f708", arm64: "ami-0d1a2b3c4d5e6f7a4" },
    "099720109477": { x86_64: "ami-0c0a1b2c3d4e5f607", arm64: "ami-0c0a1b2c3d4e5f6a4" },
} as const;

/** An address in TEST-NET-3 per runner: what its Elastic IP is. */
export function fakeRunnerAddress(runner: string): string {
    const [pool, index] = runner.split("-");
    return `203.0.113.${({ gpu: 10, cpu: 20, arm64: 30 } as Record<string, number>)[pool] + Number(index)}`;
}

/** A public address AWS gave the instance at launch, which builds must never use. */
export function fakeLaunchAddress(resourceName: string): string {
    let h = 0;
    for (const c of resourceName) h = (h * 31 + c.charCodeAt(0)) % 250;
    return `198.51.100.${h + 1}`;
}

export interface AwsMockOptions {
    /**
     * Runners (`gpu-0`) whose Elastic IP already exists, so the look-up by tags finds it. By
     * default every runner's does: the stack has been deployed before.
     */
    readonly existingEips?: readonly string[] | "all";
}

export function mockAwsLookups(opts: AwsMockOptions = {}): void {
    const existing = opts.existingEips ?? "all";
    mockInvoke(GET_AMI, (args) => {
        const owner = (args.inputs.owners as string[])[0] as keyof typeof FAKE_AMIS;
        const filters = args.inputs.filters as { name: string; values: string[] }[];
        const architecture = filters.find((f) => f.name === "architecture")?.values[0] as "x86_64" | "arm64";
        const id = FAKE_AMIS[owner][architecture];
        return { id, imageId: id, architecture };
    });
    mockInvoke(GET_EIPS, (args) => {
        const runner = (args.inputs.tags as Record<string, string>).runner;
        const found = existing === "all" || existing.includes(runner);
        return {
            id: "eips",
            allocationIds: found ? [`eipalloc-${runner}`] : [],
            publicIps: found ? [fakeRunnerAddress(runner)] : [],
        };
    });
    mockOutputs("aws:ec2/eip:Eip", (args) => {
        const runner = (args.inputs.tags as Record<string, string>).runner;
        return { publicIp: fakeRunnerAddress(runner), allocationId: `eipalloc-${runner}` };
    });
    mockOutputs("aws:ec2/instance:Instance", (args) => ({ publicIp: fakeLaunchAddress(args.name), privateIp: "172.31.0.10" }));
}
