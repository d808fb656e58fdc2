// Runs a command of src/cli/ (`node scripts/cli.js src/cli/releaseCheck.ts <args>`): the compiled
// JavaScript in dist/ when `npm run build` (run by `npm ci` through `prepare`) made it after the
// last edit of any TypeScript source, else the TypeScript itself through ts-node, which adds
// about 2 s of start-up but never runs a stale build. dist/ mirrors src/ one level below the
// project folder, so paths the code derives from __dirname (images/, the stack files) hold.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const [source, ...args] = process.argv.slice(2);
if (!source || !/^src\/cli\/\w+\.ts$/.test(source)) {
    process.stderr.write(`usage: node scripts/cli.js src/cli/<command>.ts [args...] (given: ${source ?? "nothing"})\n`);
    process.exit(1);
}

/** The newest modification time of a .ts file under dir. */
function newest(dir) {
    let t = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) t = Math.max(t, newest(p));
        else if (e.name.endsWith(".ts")) t = Math.max(t, fs.statSync(p).mtimeMs);
    }
    return t;
}

let fresh = false;
try {
    fresh = fs.statSync(path.join(root, "dist", ".built")).mtimeMs >= newest(path.join(root, "src"));
} catch {
    fresh = false;
}
let target = path.join(root, source);
if (fresh) target = path.join(root, "dist", source.slice("src/".length).replace(/\.ts$/, ".js"));
else require("ts-node").register({ transpileOnly: true });

const command = require(target);
const run = Object.entries(command).find(([name, f]) => /^run[A-Z]/.test(name) && typeof f === "function")[1];
run(args).then(
    (code) => (process.exitCode = code),
    (e) => {
        process.stderr.write(`${(e && e.stack) || e}\n`);
        process.exitCode = 1;
    },
);
