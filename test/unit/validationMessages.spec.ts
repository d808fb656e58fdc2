import { strict as assert } from "assert";
import * as fc from "fast-check";
import { distance } from "fastest-levenshtein";
import { suggest } from "../../src/validationMessages";

const key = fc.stringMatching(/^[a-z][a-zA-Z]{2,14}$/);
const keys = fc.uniqueArray(key, { minLength: 1, maxLength: 8, selector: (k) => k.toLowerCase() });

describe("suggest: the key a misspelt one meant", () => {
    it("suggests an allowed key given exactly, in any case", () => {
        fc.assert(
            fc.property(keys, fc.nat(), (allowed, i) => {
                const k = allowed[i % allowed.length];
                assert.equal(suggest(k.toUpperCase(), allowed), k);
            }),
        );
    });

    it("suggests nothing but an allowed key, and never one farther than another allowed key", () => {
        fc.assert(
            fc.property(keys, key, (allowed, given) => {
                const hint = suggest(given, allowed);
                if (hint === undefined) return;
                assert.ok(allowed.includes(hint));
                const d = distance(given.toLowerCase(), hint.toLowerCase());
                for (const other of allowed)
                    assert.ok(distance(given.toLowerCase(), other.toLowerCase()) >= d, `${other} is closer than ${hint}`);
            }),
        );
    });

    it("finds a key with one letter dropped or swapped in, and leaves an unrelated word alone", () => {
        const allowed = ["versionTag", "registry", "matrix", "immutableTags", "parents"];
        assert.equal(suggest("versonTag", allowed), "versionTag");
        assert.equal(suggest("regsitry", allowed), "registry");
        assert.equal(suggest("immutabletag", allowed), "immutableTags");
        assert.equal(suggest("xylophone", allowed), undefined);
    });
});
