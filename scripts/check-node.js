#!/usr/bin/env node
// Checks the running node against package.json's engines.node, and says what to do when it does
// not fit. It runs before `npm ci`, when no library is installed yet: that is why it reads the
// range itself instead of using semver. It reads the forms engines.node uses here, ranges joined
// by "||", each ">=X.Y.Z" or "^X.Y.Z" (X or X.Y allowed), and refuses any other form, so that a
// change to engines.node this check cannot read is noticed rather than passed.
"use strict";

const fs = require("fs");
const path = require("path");

/** "v20.19.2", "20.19" or "20" as [major, minor, patch]; undefined for anything else. */
function parseVersion(text) {
    const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(String(text).trim());
    if (!m) return undefined;
    return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

function compare(a, b) {
    for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

/** The alternatives of a range: { op: ">=" | "^", version }. Throws on a form it does not read. */
function parseRange(range) {
    return String(range)
        .split("||")
        .map((part) => {
            const m = /^\s*(>=|\^)\s*(\S+)\s*$/.exec(part);
            const version = m && parseVersion(m[2]);
            // ^0.x has rules of its own in npm, and no node release is 0.x.
            if (!version || (m[1] === "^" && version[0] === 0)) {
                throw new Error(
                    `engines.node is "${range}": this check reads only ranges of the form ">=X.Y.Z" or "^X.Y.Z" joined by "||"; ` +
                        "write engines.node in that form, or extend scripts/check-node.js",
                );
            }
            return { op: m[1], version };
        });
}

/** Whether the version satisfies the range (pre-releases are not considered). */
function satisfies(version, range) {
    const v = parseVersion(version);
    if (!v) throw new Error(`"${version}" is not a node version`);
    return parseRange(range).some(({ op, version: low }) => {
        if (compare(v, low) < 0) return false;
        if (op === ">=") return true;
        return v[0] === low[0]; // ^X.Y.Z: at least X.Y.Z, within major X
    });
}

function main() {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8"));
    const range = pkg.engines && pkg.engines.node;
    if (!range) throw new Error("package.json has no engines.node");
    if (satisfies(process.version, range)) {
        console.log(`node ${process.version} fits engines.node "${range}"`);
        return 0;
    }
    console.error(
        [
            `node ${process.version} does not fit engines.node "${range}" in package.json (the locked dependencies need it).`,
            "Install a node that fits, then run npm run setup again:",
            "  - with nvm: nvm install 22 && nvm use 22",
            "  - macOS with Homebrew: brew install node@22",
            "  - Debian/Ubuntu: a node 20.19 or newer, e.g. from NodeSource or nvm (Debian's own package may be older)",
        ].join("\n"),
    );
    return 1;
}

module.exports = { parseVersion, parseRange, satisfies };

if (require.main === module) {
    try {
        process.exitCode = main();
    } catch (e) {
        console.error(e instanceof Error ? e.message : String(e));
        process.exitCode = 1;
    }
}
