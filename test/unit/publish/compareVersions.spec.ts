import { strict as assert } from "assert";
import * as fc from "fast-check";
import { compareVersions, retagCandidates } from "../../../src/publish/classify";

const sign = (n: number) => Math.sign(n);
const release = fc.array(fc.nat({ max: 300 }), { minLength: 1, maxLength: 4 });
const versionTag = fc
    .tuple(fc.boolean(), release, fc.option(fc.tuple(fc.constantFrom("a", "b", "rc"), fc.nat({ max: 20 }))), fc.option(fc.nat({ max: 20 })))
    .map(([v, r, pre, post]) => `${v ? "v" : ""}${r.join(".")}${pre ? `${pre[0]}${pre[1]}` : ""}${post !== null ? `.post${post}` : ""}`);
const anyTag = fc.oneof(versionTag, fc.stringMatching(/^[a-z][a-z0-9._-]{0,12}$/));

function compareReleases(a: number[], b: number[]): number {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
        const d = (a[i] ?? 0) - (b[i] ?? 0);
        if (d !== 0) return d;
    }
    return 0;
}

describe("compareVersions (PEP 440 order of version tags, by @renovatebot/pep440)", () => {
    it("is antisymmetric and zero only for the same tag", () => {
        fc.assert(
            fc.property(anyTag, anyTag, (a, b) => {
                // `===`, not deepStrictEqual: -0 and 0 are the same answer here.
                assert.ok(sign(compareVersions(a, b)) === -sign(compareVersions(b, a)), `${a} vs ${b}`);
                assert.equal(compareVersions(a, b) === 0, a === b);
            }),
        );
    });

    it("is transitive, so sorting is deterministic", () => {
        fc.assert(
            fc.property(anyTag, anyTag, anyTag, (a, b, c) => {
                if (compareVersions(a, b) <= 0 && compareVersions(b, c) <= 0) assert.ok(compareVersions(a, c) <= 0, `${a} <= ${b} <= ${c}`);
            }),
        );
    });

    it("orders plain releases by their numbers, component by component (0.10.0 after 0.9.1)", () => {
        fc.assert(
            fc.property(release, release, (a, b) => {
                const expected = sign(compareReleases(a, b));
                if (expected !== 0) assert.equal(sign(compareVersions(`v${a.join(".")}`, `v${b.join(".")}`)), expected);
            }),
        );
    });

    it("puts pre-releases before their release, and post-releases after it", () => {
        fc.assert(
            fc.property(release, fc.constantFrom("a", "b", "rc"), fc.nat({ max: 20 }), (r, pre, n) => {
                const v = `v${r.join(".")}`;
                assert.ok(compareVersions(`${v}${pre}${n}`, v) < 0);
                assert.ok(compareVersions(`${v}.post${n}`, v) > 0);
            }),
        );
    });

    it("sorts tags that are not versions before every version", () => {
        fc.assert(
            fc.property(versionTag, fc.stringMatching(/^[a-z]+-[a-z]+$/), (v, name) => {
                assert.ok(compareVersions(name, v) < 0);
            }),
        );
    });

    it("retag candidates: the variant's own tags, newest version first", () => {
        const spec = { jobType: "server", python: "3.9", accelerator: "cpu", liveReload: false } as const;
        const tags = ["3.9-v0.9.1", "3.9-v0.10.0", "3.9-v0.9.1rc0", "3.9-reload-v0.11.0", "3.9-gpu-v0.12.0", "3.9-dev", "3.9-v0.9.1.post1"];
        assert.deepEqual(retagCandidates({ spec, tag: "3.9-v0.11.0" }, tags), [
            "3.9-v0.10.0",
            "3.9-v0.9.1.post1",
            "3.9-v0.9.1",
            "3.9-v0.9.1rc0",
            "3.9-dev",
        ]);
    });
});
