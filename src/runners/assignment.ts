import { createHash } from "crypto";
import type { Ec2BuildersConfig } from "../config/runners";
import type { ImageSpec } from "../images/spec";
import { variant } from "../images/naming";
import { Pool, RunnerId, runnersOf } from "./pools";

/**
 * Which runner of its pool builds an image: rendezvous (highest random weight) hashing. Kept
 * by hand rather than taken from a library: it is a sha256 and a maximum, and the npm packages
 * for it each hash differently, so swapping one in would move every image once.
 */

/** What assignment needs of a planned image. */
export interface AssignableImage {
    readonly spec: ImageSpec;
    /** `docker.io/baseten/truss-server-base` */
    readonly repository: string;
    /** The image's pool (poolOf). */
    readonly pool: Pool;
}

/**
 * The key an image is placed by: its repository and variant (`...truss-server-base:3.9-gpu`),
 * never its version tag, so a version bump keeps every image on the runner that has its layers.
 * A pool builds one platform, so the key needs none.
 */
export function assignmentKey(image: AssignableImage): string {
    return `${image.repository}:${variant(image.spec)}`;
}

/** Rendezvous score of a runner for a key: the first 8 bytes of a sha256. */
export function rendezvousWeight(runner: string, key: string): bigint {
    return createHash("sha256").update(`${runner}\n${key}`).digest().readBigUInt64BE(0);
}

/**
 * The runner of a pool that builds the image with this key: the one with the highest
 * rendezvous weight. Each image's choice depends only on its own key and the runners of its
 * pool, so adding or removing an image moves no other image, and adding or removing a runner
 * moves only the images that go to, or came from, that runner. Over many images each runner
 * gets an even share in expectation.
 */
export function pickRunner(key: string, runners: readonly RunnerId[]): RunnerId {
    if (runners.length === 0) throw new Error(`no runner to build ${key} on`);
    let best = runners[0];
    let bestWeight = rendezvousWeight(best.name, key);
    for (const r of runners.slice(1)) {
        const w = rendezvousWeight(r.name, key);
        if (w > bestWeight || (w === bestWeight && r.name < best.name)) [best, bestWeight] = [r, w];
    }
    return best;
}

/** The runner of each image, by position in `images`. Every image must be in an EC2 pool. */
export function assignRunners(images: readonly AssignableImage[], builders: Ec2BuildersConfig): RunnerId[] {
    const all = runnersOf(builders);
    return images.map((image) => {
        const pool = all.filter((r) => r.pool === image.pool);
        if (pool.length === 0) throw new Error(`image ${assignmentKey(image)} is in pool ${image.pool}, which has no runners`);
        return pickRunner(assignmentKey(image), pool);
    });
}
