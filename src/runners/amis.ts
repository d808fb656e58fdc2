import type { RunnerPool } from "../config/runners";
import { Architecture, architectureOf, hasNvidiaGpu } from "../config/instanceTypes";

/** How a pool's AMI is found when its config names none: the newest image matching a query. */
export interface AmiQuery {
    readonly owners: readonly string[];
    /** A name pattern, `*` for any text. */
    readonly name: string;
    readonly architecture: Architecture;
    /** For messages and the README. */
    readonly what: string;
}

/** Canonical's account: its Ubuntu images. */
export const CANONICAL_OWNER = "099720109477";

/**
 * The AMI query of a pool's instance type: with an NVIDIA GPU, the AWS Deep Learning Base GPU
 * AMI for its architecture (NVIDIA driver, Docker and the NVIDIA container toolkit); without,
 * Canonical's Ubuntu 22.04 server image (the user data installs Docker).
 */
export function amiQueryFor(pool: RunnerPool, instanceType: string): AmiQuery {
    const architecture = pool === "arm64" ? "arm64" : architectureOf(instanceType);
    if (hasNvidiaGpu(instanceType)) {
        return architecture === "arm64"
            ? {
                  owners: ["amazon"],
                  name: "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *",
                  architecture,
                  what: "the AWS Deep Learning ARM64 Base GPU AMI (Ubuntu 22.04): NVIDIA driver, Docker and the NVIDIA container toolkit",
              }
            : {
                  owners: ["amazon"],
                  name: "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *",
                  architecture,
                  what: "the AWS Deep Learning Base GPU AMI (Ubuntu 22.04): NVIDIA driver, Docker and the NVIDIA container toolkit",
              };
    }
    const arch = architecture === "arm64" ? "arm64" : "amd64";
    return {
        owners: [CANONICAL_OWNER],
        name: `ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-${arch}-server-*`,
        architecture,
        what: `Canonical's Ubuntu 22.04 server AMI (${arch})`,
    };
}
