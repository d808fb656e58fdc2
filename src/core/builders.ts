import { z } from "zod";

/**
 * The `builders` config key: where images are built. `local` is the Docker daemon of the
 * machine running Pulumi (DOCKER_HOST or the default socket).
 */
export const localBuildersSchema = z.strictObject({
    mode: z.literal("local"),
    /** Network mode for RUN instructions, e.g. "host" on a daemon without a bridge network. */
    network: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, "must be a Docker network name such as host").optional(),
});

export const BUILDER_MODES = ["local"] as const;

export const buildersSchema = z.discriminatedUnion("mode", [localBuildersSchema], {
    error: `unknown builder mode; allowed: ${BUILDER_MODES.map((m) => JSON.stringify(m)).join(", ")}`,
});

export type BuildersConfig = z.infer<typeof buildersSchema>;

/** The runner pool an image is built on: the local daemon, or an EC2 pool. */
export type Pool = "local";
