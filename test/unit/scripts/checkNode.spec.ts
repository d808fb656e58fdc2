import { strict as assert } from "assert";
import * as fc from "fast-check";
import * as semver from "semver";
import pkg from "../../../package.json";

// scripts/check-node.js runs before npm ci, so it cannot use semver; semver is the reference here.
const checkNode = require("../../../scripts/check-node.js") as {
    satisfies(version: string, range: string): boolean;
    parseRange(range: string): unknown;
};

const version = fc.tuple(fc.nat({ max: 30 }), fc.nat({ max: 30 }), fc.nat({ max: 30 })).map((v) => v.join("."));
const alternative = fc
    .tuple(fc.constantFrom(">=", "^"), fc.integer({ min: 1, max: 30 }), fc.nat({ max: 30 }), fc.nat({ max: 30 }))
    .map(([op, ...v]) => `${op}${v.join(".")}`);
const range = fc.array(alternative, { minLength: 1, maxLength: 3 }).map((parts) => parts.join(" || "));

describe("scripts/check-node.js: is this node the one package.json's engines.node asks for", () => {
    it("agrees with semver on package.json's own engines.node, for any version", () => {
        fc.assert(fc.property(version, (v) => checkNode.satisfies(v, pkg.engines.node) === semver.satisfies(v, pkg.engines.node)));
    });

    it("agrees with semver on any range of >=X.Y.Z and ^X.Y.Z alternatives", () => {
        fc.assert(fc.property(version, range, (v, r) => checkNode.satisfies(v, r) === semver.satisfies(v, r)));
    });

    it("reads node's own version text (v20.19.2)", () => {
        assert.equal(checkNode.satisfies("v20.19.2", "^20.19.0 || >=22.13.0"), true);
        assert.equal(checkNode.satisfies("v20.18.3", "^20.19.0 || >=22.13.0"), false);
        assert.equal(checkNode.satisfies("v21.7.0", "^20.19.0 || >=22.13.0"), false);
        assert.equal(checkNode.satisfies("v24.1.0", "^20.19.0 || >=22.13.0"), true);
    });

    it("refuses a range form it does not read, saying which forms it reads", () => {
        for (const r of ["20.x", "~20.19.0", ">=20 <23", "^0.12.0", ""]) {
            assert.throws(() => checkNode.parseRange(r), /reads only ranges of the form ">=X\.Y\.Z" or "\^X\.Y\.Z" joined by "\|\|"/, r);
        }
    });
});
