import { countActions } from "./classify";
import type { PublishAction } from "./plannedImages";
import type { DefinitionChange } from "./definitionChanges";
import type { ContentSource } from "./releaseHistory";

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

/** Where Truss keeps TRUSS_BASE_IMAGE_VERSION_TAG, relative to a checkout. */
const DEFAULT_VERSION_TAG_FILE = "truss/contexts/image_builder/util.py";

/**
 * How the exit code reads drift (a tag without a content label whose inputs changed since the
 * commit that set it):
 * - `strict`: drift is `bump-needed`, exit 3, like any conflict;
 * - `advisory`: drift is reported the same way but exits 0. A tag whose content label says it
 *   holds other content still exits 3, and every other verdict keeps its code.
 */
export const RELEASE_POLICIES = ["strict", "advisory"] as const;
export type ReleasePolicy = (typeof RELEASE_POLICIES)[number];

export interface ReleaseDecision {
    readonly verdict: ReleaseVerdict;
    readonly exitCode: number;
    /** One paragraph saying why and what to do. */
    readonly explanation: string;
}

/** An image as the release gate judged it (src/publish/releaseHistory.ts). */
export interface JudgedAction {
    readonly action: PublishAction;
    readonly source?: string;
    readonly contentFrom?: ContentSource;
    readonly history?: { readonly tag: string; readonly commit: string };
}

/** A verdict with what changed and since when, under a policy. */
export interface GateDecision extends ReleaseDecision {
    readonly policy: ReleasePolicy;
    /** bump-needed only because inputs changed under tags without a content label (advisory exits 0 on it). */
    readonly drift: boolean;
    /** What differs, each with the tag it differs from, that tag's commit and the commits that changed it. */
    readonly changes: readonly DefinitionChange[];
    /** The images as judged; a history re-tag that `pulumi up` would build (its plan goes by labels) is a build here unless the verdict is needless-bump. */
    readonly images: readonly JudgedAction[];
}

const plural = (n: number, one: string, many: string) => (n === 1 ? one : many);

/** `template (…jinja; commits a1, b2), truss/templates/server/requirements.txt (c3)` */
function changedList(changes: readonly DefinitionChange[]): string {
    return changes
        .map(
            (c) =>
                `${c.path}${c.commits.length > 0 ? ` (${plural(c.commits.length, "commit", "commits")} ${c.commits.join(", ")})` : " (not committed)"}`,
        )
        .join(", ");
}

/**
 * The release gate's decision from the judged images (labels, else history), what changed since
 * the version tag and since the previous one, and the policy. `versionTagFile` is where the
 * checkout keeps TRUSS_BASE_IMAGE_VERSION_TAG, named by the explanation.
 */
export function gateDecision(p: {
    readonly images: readonly JudgedAction[];
    readonly versionTag: string;
    readonly versionTagFile?: string;
    readonly policy: ReleasePolicy;
    readonly versionTagCommit?: { readonly short: string } | null;
    readonly previous?: { readonly tag: string; readonly short: string };
    readonly changesSinceTag: readonly DefinitionChange[];
    readonly changesSincePrevious: readonly DefinitionChange[];
}): GateDecision {
    const file = p.versionTagFile ?? DEFAULT_VERSION_TAG_FILE;
    let images = p.images;
    const base = releaseVerdict(images, p.versionTag, file);
    const byHistory = (i: JudgedAction) => i.contentFrom === "history";
    const setIn = p.versionTagCommit ? ` (set in ${p.versionTagCommit.short})` : "";
    const result = (verdict: ReleaseVerdict, explanation: string, drift: boolean, changes: readonly DefinitionChange[]): GateDecision => ({
        verdict,
        exitCode: drift && p.policy === "advisory" ? 0 : VERDICT_EXIT_CODES[verdict],
        explanation:
            explanation +
            (drift && p.policy === "advisory"
                ? ` Policy advisory: this drift is reported and the check passes (exit 0); the base images lag the checkout until the tag is bumped.`
                : ""),
        policy: p.policy,
        drift,
        changes,
        images,
    });
    const changedSinceTag =
        p.changesSinceTag.length > 0 ? ` Changed since ${p.versionTag}${setIn}: ${changedList(p.changesSinceTag)}.` : "";

    if (base.verdict === "needless-bump") {
        const fromHistory = images.filter(byHistory);
        const note =
            fromHistory.length > 0 && p.previous
                ? ` (${fromHistory.length} by history: ${p.previous.tag}'s tags carry no content label, and the checkout at ${p.previous.short}, which set ${p.previous.tag}, defined the same images)`
                : "";
        return result("needless-bump", base.explanation.replace(/\): this change/, `)${note}: this change`), false, []);
    }
    // `pulumi up` re-tags only content it can verify by label: it builds what history alone says exists.
    images = images.map((i) => (i.action === "retag" && byHistory(i) ? { ...i, action: "build" as const, source: undefined } : i));
    const conflicts = images.filter((i) => i.action === "conflict");
    if (conflicts.length > 0) {
        const drift = conflicts.every(byHistory);
        const labelled = conflicts.filter((i) => !byHistory(i)).length;
        const how =
            labelled === conflicts.length
                ? ""
                : ` (${labelled > 0 ? `${labelled} by content label, ` : ""}${conflicts.length - labelled} by history: ` +
                  `${plural(conflicts.length - labelled, "a tag", "tags")} without a content label, judged by what the checkout defined ` +
                  `${p.versionTagCommit ? `at ${p.versionTagCommit.short}, the commit that set ${p.versionTag}` : `when ${p.versionTag} was set`})`;
        return result(
            "bump-needed",
            `${conflicts.length} ${plural(conflicts.length, "tag", "tags")} of ${p.versionTag} already ${plural(conflicts.length, "holds", "hold")} other content${how}: ` +
                `this change alters the base images.${changedSinceTag} Bump TRUSS_BASE_IMAGE_VERSION_TAG (${file}) to a new version, then run this check again.`,
            drift,
            p.changesSinceTag,
        );
    }
    const unchangedByHistory = images.filter((i) => i.action === "unchanged" && byHistory(i)).length;
    const n = countActions(images);
    if (n.build + n.retag > 0 && unchangedByHistory > 0) {
        // Tags of this version exist without content labels and others are missing: `pulumi up`
        // (immutableTags) stops at content it cannot verify, so only a new tag publishes the rest.
        return result(
            "bump-needed",
            `${n.build + n.retag} ${plural(n.build + n.retag, "image", "images")} of ${p.versionTag} ${plural(n.build + n.retag, "is", "are")} not published, ` +
                `while ${unchangedByHistory} ${plural(unchangedByHistory, "tag", "tags")} of ${p.versionTag} ${plural(unchangedByHistory, "was", "were")} published without a content label: ` +
                `the images changed under a published tag.${changedSinceTag} Bump TRUSS_BASE_IMAGE_VERSION_TAG (${file}) to a new version, then run this check again.`,
            true,
            p.changesSinceTag,
        );
    }
    if (base.verdict === "up-to-date" || (images.length > 0 && n.unchanged === images.length)) {
        const how =
            unchangedByHistory > 0
                ? ` (${unchangedByHistory} by history: ${plural(unchangedByHistory, "its tag carries", "their tags carry")} no content label, and the checkout at ` +
                  `${p.versionTagCommit?.short ?? "?"}, which set ${p.versionTag}, defined the same images)`
                : "";
        const since = p.versionTagCommit
            ? ` Nothing that goes into them changed since ${p.versionTag} was set in ${p.versionTagCommit.short}.`
            : "";
        return result(
            "up-to-date",
            `Every image of ${p.versionTag} is published with exactly this content${how}: nothing to publish.${since}`,
            false,
            [],
        );
    }
    const changedSincePrevious =
        p.previous && p.changesSincePrevious.length > 0
            ? ` Changed since ${p.previous.tag} (set in ${p.previous.short}): ${changedList(p.changesSincePrevious)}.`
            : "";
    return result(
        "publish",
        `Some tags of ${p.versionTag} are not published yet: \`pulumi up\` will build ${n.build} and re-tag ${n.retag} (${n.unchanged} already published).` +
            `${changedSincePrevious} Publish them before the Truss release that uses ${p.versionTag}.`,
        false,
        p.changesSincePrevious,
    );
}

export function releaseVerdict(
    images: readonly { readonly action: PublishAction; readonly source?: string }[],
    versionTag: string,
    versionTagFile: string = DEFAULT_VERSION_TAG_FILE,
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
                `Bump TRUSS_BASE_IMAGE_VERSION_TAG (${versionTagFile}) to a new version, then run this check again.`,
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
                `this change does not alter the base images. Keep the previous TRUSS_BASE_IMAGE_VERSION_TAG (${versionTagFile}) rather than publish the same images under a new tag.`,
        );
    }
    return decide(
        "publish",
        `Some tags of ${versionTag} are not published yet: \`pulumi up\` will build ${n.build} and re-tag ${n.retag} ` +
            `(${n.unchanged} already published). Publish them before the Truss release that uses ${versionTag}.`,
    );
}
