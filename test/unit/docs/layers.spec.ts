import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..", "..");

/** The src/ folders in the order the lint rules allow them to import (.dependency-cruiser.cjs's layer-<folder> rules). */
function enforcedOrder(): string[] {
    const config = require(path.join(ROOT, ".dependency-cruiser.cjs")) as { forbidden: { name: string }[] };
    return config.forbidden.map((r) => /^layer-(.+)$/.exec(r.name)?.[1]).filter((n): n is string => n !== undefined);
}

/** The src/ folders in the order docs/architecture.md's "The import order" lists them. */
function documentedOrder(): string[] {
    const doc = fs.readFileSync(path.join(ROOT, "docs", "architecture.md"), "utf8");
    const section = doc.split(/^## /m).find((s) => s.startsWith("The import order")) ?? "";
    return [...section.matchAll(/^\d+\. `src\/([a-z]+)\/`/gm)].map((m) => m[1]);
}

describe("docs/architecture.md and the import rules", () => {
    it("lists the src/ folders in the order the lint rules enforce, every one of them", () => {
        const enforced = enforcedOrder();
        assert.ok(enforced.length >= 7, `the lint config names ${enforced.length} layers`);
        assert.deepEqual(documentedOrder(), enforced);
        const folders = fs
            .readdirSync(path.join(ROOT, "src"), { withFileTypes: true })
            .filter((d) => d.isDirectory())
            .map((d) => d.name)
            .sort();
        assert.deepEqual([...enforced].sort(), folders, "a src/ folder that no layer rule names would escape the rules");
    });
});
