// AWS look-ups for stacks with EC2 build runners under Pulumi's mocks: the AMI each pool boots
// (aws.ec2.getAmi) and each runner's Elastic IP read back by its tags (aws.ec2.getEips), plus
// the outputs AWS gives an Elastic IP and an instance. Call after resetMocks (declareMockStack).
import { mockInvoke, mockOutputs } from "./pulumiMocks";

export const GET_AMI = "aws:ec2/getAmi:getAmi";
export const GET_EIPS = "aws:ec2/getEips:getEips";

/** What the AMI look-up answers, by owner: Amazon's Deep Learning AMI, Canonical's Ubuntu. */
export const FAKE_AMIS = { amazon: "ami-0d1a2b3c4d5e6f708", "099720109477": "ami-0c0a1b2c3d4e5f607" } as const;

/** An address in TEST-NET-3 per runner: what its Elastic IP is. */
export function fakeRunnerAddress(runner: string): string {
    const [pool, index] = runner.split("-");
    return `203.0.113.${(pool === "gpu" ? 10 : 20) + Number(index)}`;
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
        return { id: FAKE_AMIS[owner], imageId: FAKE_AMIS[owner], architecture: "x86_64" };
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
