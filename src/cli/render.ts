import type { PlannedImage, PublishAction } from "../publish/plannedImages";
export { summaryLine } from "../publish/publishPlan";

/** One item of `npm run plan -- --json`. */
export interface PlanItem {
    image: string;
    tag: string;
    contentDigest: string;
    action: PublishAction;
    source?: string;
    pool: string;
    /** One entry per platform of the tag; `contentDigest` above covers them all. */
    platforms: { platform: string; contentDigest: string; pool: string }[];
    /** What the image builds FROM: `<reference>@sha256:...` when pinned, the bare reference when not. */
    parent: string;
    /** With `--contexts`: the folder holding the image's staged build context. */
    context?: string;
}

/** The plan's items; `contexts` maps a reference to its written context folder (`--contexts`). */
export function planItems(plan: readonly PlannedImage[], contexts: ReadonlyMap<string, string> = new Map()): PlanItem[] {
    return plan.map((p) => ({
        image: p.reference,
        tag: p.tag,
        contentDigest: p.contentDigest,
        action: p.action,
        ...(p.source ? { source: p.source } : {}),
        pool: p.pool,
        platforms: p.platforms.map((x) => ({ platform: x.platform, contentDigest: x.contentDigest, pool: x.pool })),
        parent: p.staged.parent,
        ...(contexts.has(p.reference) ? { context: contexts.get(p.reference) } : {}),
    }));
}

/** A fixed-width table: image, content digest (shortened), pool, action. */
export function planTable(items: readonly PlanItem[]): string {
    const rows = items.map((i) => [
        i.image,
        i.contentDigest.slice(0, "sha256:".length + 12),
        i.platforms.length > 1 ? i.platforms.map((p) => `${p.pool}(${p.platform.split("/")[1]})`).join(",") : i.pool,
        i.action === "retag" && i.source ? `retag from ${i.source.slice(i.source.lastIndexOf(":") + 1)}` : i.action,
    ]);
    const header = ["IMAGE", "CONTENT DIGEST", "POOL", "ACTION"];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    const line = (r: string[]) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join("  ");
    return [line(header), ...rows.map(line)].join("\n");
}
