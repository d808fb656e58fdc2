import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { buildArgsWithDigest } from "../images/context";
import type { ContentDigest } from "../images/spec";
import type { PlannedImage } from "../publish/plannedImages";
import { stagingReference } from "../images/naming";

export interface BaseImageArgs {
    /** The planned image: reference, staged context, content digest. */
    readonly image: PlannedImage;
    /** The staged context folder, relative to the project (stable across machines). */
    readonly contextDir: string;
    /** Registry server and user; the password must be a secret Output. */
    readonly registry: { readonly server: string; readonly username?: string; readonly password?: pulumi.Output<string> };
    /** false: build only (the seed's build without --push). */
    readonly push: boolean;
    /** Network mode for RUN instructions (e.g. "host"); the daemon's default when unset. */
    readonly network?: string;
    /** The Docker provider of the daemon that builds it; the default provider when unset. */
    readonly provider?: docker.Provider;
    /** What must be ready before the build starts (a runner's readiness gate). */
    readonly dependsOn?: pulumi.Resource[];
}

/**
 * One Truss base image: a docker.Image whose inputs change exactly when its content digest
 * does. With push it goes to `<repository>:build-<content digest hex>` (stagingReference), a
 * tag outside the published format: the published tag is written by RegistryTag alone. Dropping it from the program only
 * drops it from the state (retainOnDelete): a published tag is never deleted.
 */
export class BaseImage extends pulumi.ComponentResource {
    /** The full reference, e.g. docker.io/baseten/truss-server-base:3.9-gpu-v0.2.2 */
    public readonly reference: pulumi.Output<string>;
    public readonly contentDigest: pulumi.Output<ContentDigest>;
    /** The manifest digest pushed to the staging tag (`sha256:...`), or the local image id when not pushed. */
    public readonly digest: pulumi.Output<string>;
    public readonly image: docker.Image;

    constructor(name: string, args: BaseImageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("truss-base-images:index:BaseImage", name, {}, opts);
        const { image, registry } = args;
        const dockerfile = `${args.contextDir}/Dockerfile`;
        this.image = new docker.Image(
            name,
            {
                // Builds push to the staging tag only; RegistryTag writes the published tag after checking it.
                imageName: args.push ? stagingReference(image.repository, image.contentDigest) : image.reference,
                build: {
                    context: args.contextDir,
                    dockerfile,
                    platform: image.staged.platform,
                    args: buildArgsWithDigest(image.staged),
                    builderVersion: "BuilderV1",
                    ...(args.network ? { network: args.network } : {}),
                },
                skipPush: !args.push,
                registry: args.push ? { server: registry.server, username: registry.username, password: registry.password } : undefined,
            },
            { parent: this, retainOnDelete: true, provider: args.provider, dependsOn: args.dependsOn },
        );
        this.reference = pulumi.output(image.reference);
        this.contentDigest = pulumi.output(image.contentDigest);
        this.digest = this.image.repoDigest.apply((d) => (d.includes("@") ? d.slice(d.indexOf("@") + 1) : d));
        this.registerOutputs({ reference: this.reference, contentDigest: this.contentDigest, digest: this.digest });
    }
}
