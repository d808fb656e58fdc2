import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import GithubSlugger from "github-slugger";

const ROOT = path.resolve(__dirname, "..", "..", "..");

/** README.md and every Markdown file under docs/: the pages a reader follows links between. */
function pages(): string[] {
    const docs = fs
        .readdirSync(path.join(ROOT, "docs"))
        .filter((f) => f.endsWith(".md"))
        .map((f) => path.join("docs", f));
    return ["README.md", ...docs];
}

/** The text outside fenced code blocks, where a `[x](y)` is code rather than a link. */
function prose(markdown: string): string {
    return markdown.replace(/^```[\s\S]*?^```/gm, "");
}

/** The anchors GitHub gives a page's headings (`## Access modes` -> `access-modes`). */
function anchorsOf(file: string): Set<string> {
    const slugger = new GithubSlugger();
    const anchors = new Set<string>();
    for (const line of prose(fs.readFileSync(path.join(ROOT, file), "utf8")).split("\n")) {
        const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
        if (m) anchors.add(slugger.slug(m[1]));
    }
    return anchors;
}

interface Link {
    readonly page: string;
    readonly target: string;
}

function linksOf(page: string): Link[] {
    const text = prose(fs.readFileSync(path.join(ROOT, page), "utf8"));
    return [...text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => ({ page, target: m[1] }));
}

/** What is wrong with a link that stays inside this repository, or undefined. */
function brokenLink(link: Link): string | undefined {
    if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) return undefined; // https:, mailto:: not ours to check
    const [file, anchor] = link.target.split("#", 2) as [string, string | undefined];
    const resolved = file === "" ? link.page : path.normalize(path.join(path.dirname(link.page), decodeURIComponent(file)));
    if (resolved.startsWith("..")) return `${link.page}: ${link.target} points outside the repository`;
    if (!fs.existsSync(path.join(ROOT, resolved))) return `${link.page}: ${link.target}: no file ${resolved}`;
    if (anchor !== undefined && resolved.endsWith(".md") && !anchorsOf(resolved).has(anchor)) {
        return `${link.page}: ${link.target}: ${resolved} has no heading with the anchor #${anchor}`;
    }
    return undefined;
}

describe("documentation links", () => {
    it("every link from README.md and docs/*.md to a file or heading of this repository finds it", () => {
        const links = pages().flatMap(linksOf);
        assert.ok(links.length > 0, "the pages link to nothing: the reader could not get from README to docs/");
        assert.deepEqual(
            links.map(brokenLink).filter((p) => p !== undefined),
            [],
        );
    });

    it("reports a link to a missing file and to a missing heading (the check itself)", () => {
        assert.match(brokenLink({ page: "README.md", target: "docs/nothing-here.md" }) ?? "", /no file docs\/nothing-here\.md/);
        assert.match(
            brokenLink({ page: "README.md", target: "#no-such-heading" }) ?? "",
            /has no heading with the anchor #no-such-heading/,
        );
        assert.equal(brokenLink({ page: "README.md", target: "https://example.com/x" }), undefined);
    });
});
