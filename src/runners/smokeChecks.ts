import type { Accelerator } from "../images/dimensions";

/**
 * Which checks an image's smoke test can make on the runner that built it. A GPU image needs a
 * GPU for the full test (CUDA sees a device, nvidia-smi); on an arm64 pool without an NVIDIA GPU
 * (c7g, m7g, ...) it still gets the library checks (python, pip check, the CUDA libraries load).
 */
export type SmokeChecks = "cpu" | "gpu" | "gpu-libraries";

/** A smoke test may take this long (starting a multi-GB GPU image, pip check). */
export const SMOKE_TIMEOUT_SECONDS = 900;

export function smokeChecksFor(accelerator: Accelerator, runnerHasNvidiaGpu: boolean): SmokeChecks {
    if (accelerator === "cpu") return "cpu";
    return runnerHasNvidiaGpu ? "gpu" : "gpu-libraries";
}
