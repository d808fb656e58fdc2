import { countActions } from "./classify";
import type { PublishAction } from "./plannedImages";

/**
 * What a Truss change means for its base images, from the publish plan of the checkout's
 * version tag:
 * - `up-to-date`: every image's tag is published with exactly this content;
 * - `publish`: some tags are absent and none holds other content: `pulumi up` publishes them;
 * - `bump-needed`: a tag of this version holds other content: the change alters base images,
 *   so the version tag must move;
 * - `needless-bump`: no tag of this version exists, yet every image equals one already
 *   published under another version (all re-tags): keep the previous version tag.
 */
export type ReleaseVerdict = "up-to-date" | "publish" | "bump-needed" | "needless-bump";

/** The exit code of `npm run release-check` for each verdict (1 is for errors). */
export const VERDICT_EXIT_CODES: Readonly<Record<ReleaseVerdict, number>> = {
    "up-to-date": 0,
    publish: 2,
    "bump-needed": 3,
    "needless-bump": 3,
};

export interface ReleaseDecision {
    readonly verdict: ReleaseVerdict;
    readonly exitCode: number;
    /** One paragraph saying why and what to do. */
    readonly explanation: string;
}

export function releaseVerdict(
    images: readonly { readonly action: PublishAction; readonly source?: string }[],
    versionTag: string,
): ReleaseDecision {
    const n = countActions(images);
    const decide = (verdict: ReleaseVerdict, explanation: string): ReleaseDecision => ({
        verdict,
        exitCode: VERDICT_EXIT_CODES[verdict],
        explanation,
    });
    if (n.conflict > 0) {
        return decide(
            "bump-needed",
            `${n.conflict} tag${n.conflict === 1 ? "" : "s"} of ${versionTag} already hold${n.conflict === 1 ? "s" : ""} other content: this change alters the base images. ` +
                `Bump TRUSS_BASE_IMAGE_VERSION_TAG (truss/contexts/image_builder/util.py) to a new version, then run this check again.`,
        );
    }
    if (images.length > 0 && n.unchanged === images.length) {
        return decide("up-to-date", `Every image of ${versionTag} is published with exactly this content: nothing to publish.`);
    }
    if (images.length > 0 && n.retag === images.length) {
        const sources = [...new Set(images.map((i) => i.source?.slice(i.source.lastIndexOf(":") + 1).replace(/^.*?-(?=v?\d)/, "") ?? ""))];
        return decide(
            "needless-bump",
            `No tag of ${versionTag} is published, but every image equals one already published (${sources.join(", ")}): ` +
                `this change does not alter the base images. Keep the previous TRUSS_BASE_IMAGE_VERSION_TAG rather than publish the same images under a new tag.`,
        );
    }
    return decide(
        "publish",
        `Some tags of ${versionTag} are not published yet: \`pulumi up\` will build ${n.build} and re-tag ${n.retag} ` +
            `(${n.unchanged} already published). Publish them before the Truss release that uses ${versionTag}.`,
    );
}
