import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { loadCatalog } from "../../../src/images/catalog";
import { applyParentPins, stageImage } from "../../../src/images/context";
import { fromLines } from "../../../src/images/dockerfile";
import {
    EMPTY_LOCK,
    formatParentLock,
    lockAgeDays,
    LOCK_FILE,
    ParentLock,
    parseParentLock,
    readParentLock,
    writeParentLock,
} from "../../../src/images/parentLock";
import type { ImageSpec } from "../../../src/images/spec";
import { CatalogError } from "../../../src/errors";
import { allSpecs, copyImages, REPO_IMAGES_DIR, replaceOnce, specKey } from "../../support/fixtures";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const lockOf = (pins: Record<string, string | undefined>, updated?: string): ParentLock => ({ updated, pins: new Map(Object.entries(pins)) });

describe("parent references from FROM lines", () => {
    it("a FROM that names a build argument resolves to the argument's value", () => {
        const froms = fromLines("ARG PARENT_IMAGE\nFROM ${PARENT_IMAGE}\nRUN true\n", { PARENT_IMAGE: "python:3.11" });
        assert.deepStrictEqual(froms, [{ line: 1, written: "${PARENT_IMAGE}", reference: "python:3.11", viaArg: "PARENT_IMAGE" }]);
    });

    it("ARG defaults before the first FROM apply, build arguments override them, ARGs after a FROM are out of scope", () => {
        const df = [
            "# syntax comment",
            "ARG BASE=ubuntu:22.04",
            "ARG TAG=3.10",
            "FROM --platform=linux/amd64 $BASE AS build",
            "ARG LATE=nope",
            "FROM python:${TAG}-slim",
            "FROM ${LATE:-busybox:1.36}",
        ].join("\n");
        const refs = fromLines(df, { TAG: "3.12" }).map((f) => f.reference);
        assert.deepStrictEqual(refs, ["ubuntu:22.04", "python:3.12-slim", "busybox:1.36"]);
    });

    it("scratch and earlier stage names are not parents; continuation lines are joined", () => {
        const df = ["FROM golang:1.22 AS build", "FROM scratch", "FROM build AS again", "FROM \\", "  nvidia/cuda:12.8.1-base-ubuntu22.04"].join(
            "\n",
        );
        assert.deepStrictEqual(
            fromLines(df, {}).map((f) => f.reference),
            ["golang:1.22", "nvidia/cuda:12.8.1-base-ubuntu22.04"],
        );
    });

    it("every staged Dockerfile of the catalog yields exactly the parent the catalog names for it", () => {
        const catalog = loadCatalog();
        for (const spec of allSpecs(catalog)) {
            const staged = stageImage(catalog, spec);
            const dockerfile = staged.files.find((f) => f.path === "Dockerfile")!.content.toString();
            assert.deepStrictEqual(
                fromLines(dockerfile, staged.buildArgs).map((f) => f.reference),
                [staged.parent],
                specKey(spec),
            );
        }
    });
});

describe("applying pins to a Dockerfile", () => {
    it("a FROM through a build argument is pinned in the argument; a literal FROM is pinned in the text", () => {
        const df = "ARG PARENT_IMAGE\nFROM ${PARENT_IMAGE} AS base\nFROM debian:12\nCOPY --from=base / /\n";
        const out = applyParentPins(df, { PARENT_IMAGE: "python:3.11" }, lockOf({ "python:3.11": D1, "debian:12": D2 }));
        assert.strictEqual(out.buildArgs.PARENT_IMAGE, `python:3.11@${D1}`);
        assert.strictEqual(out.dockerfile, `ARG PARENT_IMAGE\nFROM \${PARENT_IMAGE} AS base\nFROM debian:12@${D2}\nCOPY --from=base / /\n`);
        assert.deepStrictEqual(out.unpinned, []);
    });

    it("an unpinned parent is reported and left as written; a reference that already names a digest is left alone", () => {
        const df = `FROM debian:12\nFROM alpine:3.20@${D1}\n`;
        const out = applyParentPins(df, {}, EMPTY_LOCK);
        assert.strictEqual(out.dockerfile, df);
        assert.strictEqual(out.changedDockerfile, false);
        assert.deepStrictEqual(out.unpinned, ["debian:12"]);
    });
});

describe("pins and content digests", () => {
    const catalog = loadCatalog();
    const specs = allSpecs(catalog);
    const stagedAll = (lock: ParentLock) => new Map(specs.map((s) => [specKey(s), stageImage(catalog, s, {}, lock)]));

    it("with no pin (the committed lock), every staged context is byte for byte what it is without any lock", () => {
        const committed = readParentLock(REPO_IMAGES_DIR);
        const without = stagedAll(EMPTY_LOCK);
        for (const [key, staged] of stagedAll(committed)) {
            const plain = without.get(key)!;
            assert.deepStrictEqual({ ...staged, unpinnedParents: [] }, { ...plain, unpinnedParents: [] }, key);
            assert.deepStrictEqual(staged.unpinnedParents, [plain.parent], key);
        }
    });

    it("pinning python:3.11 changes the content digest, build argument and parent of exactly the images built FROM python:3.11", () => {
        const before = stagedAll(EMPTY_LOCK);
        const after = stagedAll(lockOf({ "python:3.11": D1 }));
        const changed = [...after].filter(([key, s]) => s.contentDigest !== before.get(key)!.contentDigest).map(([key]) => key);
        const expected = specs.filter((s) => s.python === "3.11" && s.accelerator === "cpu").map(specKey);
        assert.deepStrictEqual(changed.sort(), expected.sort());
        for (const key of expected) {
            const s = after.get(key)!;
            assert.strictEqual(s.parent, `python:3.11@${D1}`);
            assert.strictEqual(s.buildArgs.PARENT_IMAGE, `python:3.11@${D1}`);
            assert.deepStrictEqual(s.unpinnedParents, []);
        }
        const moved = stagedAll(lockOf({ "python:3.11": D2 }));
        for (const key of expected) assert.notStrictEqual(moved.get(key)!.contentDigest, after.get(key)!.contentDigest, key);
    });

    it("pins apply after the stack's parents overrides: the lock pins the overriding reference", () => {
        const spec: ImageSpec = { jobType: "server", python: "3.9", accelerator: "cpu", liveReload: false };
        const overrides = { "python:3.9": "127.0.0.1:5000/library/python:3.9" };
        const staged = stageImage(catalog, spec, overrides, lockOf({ "python:3.9": D1, "127.0.0.1:5000/library/python:3.9": D2 }));
        assert.strictEqual(staged.parent, `127.0.0.1:5000/library/python:3.9@${D2}`);
    });

    it("a Dockerfile with a literal FROM (no build argument) is pinned in its staged text", () => {
        const dir = copyImages();
        replaceOnce(dir, "Dockerfile.cpu", "FROM ${PARENT_IMAGE}", "FROM debian:12-slim");
        const copy = loadCatalog(dir);
        const spec: ImageSpec = { jobType: "server", python: "3.9", accelerator: "cpu", liveReload: false };
        const unpinned = stageImage(copy, spec);
        assert.deepStrictEqual(unpinned.unpinnedParents, ["debian:12-slim"]);
        const pinned = stageImage(copy, spec, {}, lockOf({ "debian:12-slim": D1 }));
        const text = pinned.files.find((f) => f.path === "Dockerfile")!.content.toString();
        assert.match(text, new RegExp(`^FROM debian:12-slim@${D1}$`, "m"));
        assert.notStrictEqual(pinned.contentDigest, unpinned.contentDigest);
    });
});

describe("the lock file", () => {
    it("the committed lock pins nothing, lists every parent of the catalog and says that none is pinned yet", () => {
        const text = fs.readFileSync(path.join(REPO_IMAGES_DIR, LOCK_FILE), "utf8");
        const lock = parseParentLock(text, LOCK_FILE);
        assert.strictEqual(lock.updated, undefined);
        const catalog = loadCatalog();
        const parents = [...new Set(allSpecs(catalog).map((s) => stageImage(catalog, s).parent))].sort();
        assert.deepStrictEqual(
            [...lock.pins.keys()].sort(),
            parents,
            `images/${LOCK_FILE} must list every parent of the catalog; add a line \`"<parent>": unpinned\` for a new one`,
        );
        assert.ok([...lock.pins.values()].every((d) => d === undefined));
        assert.match(text, /No parent is pinned yet/);
        assert.strictEqual(formatParentLock(lock), text, "the committed file is exactly what --update would write");
    });

    it("round-trips through its text, one sorted line per parent", () => {
        const lock = lockOf({ "python:3.9": D1, "nvidia/cuda:12.8.1-base-ubuntu22.04": undefined }, "2026-11-02");
        const text = formatParentLock(lock);
        assert.deepStrictEqual(parseParentLock(text, "x"), lock);
        assert.deepStrictEqual(
            text.split("\n").filter((l) => l.startsWith("  ")),
            [`  "nvidia/cuda:12.8.1-base-ubuntu22.04": unpinned`, `  "python:3.9": ${D1}`],
        );
        assert.match(text, /^updated: 2026-11-02$/m);
        assert.doesNotMatch(text, /No parent is pinned yet/);
    });

    it("moving one pin changes exactly two lines: that parent's and `updated`", () => {
        const a = formatParentLock(lockOf({ "python:3.9": D1, "python:3.10": D1, "python:3.11": D1 }, "2026-10-01")).split("\n");
        const b = formatParentLock(lockOf({ "python:3.9": D1, "python:3.10": D2, "python:3.11": D1 }, "2026-11-30")).split("\n");
        assert.strictEqual(a.length, b.length);
        const differing = a.map((line, i) => (line === b[i] ? undefined : `${line} -> ${b[i]}`)).filter((x) => x !== undefined);
        assert.deepStrictEqual(differing, [`updated: 2026-10-01 -> updated: 2026-11-30`, `  "python:3.10": ${D1} ->   "python:3.10": ${D2}`]);
    });

    it("a bad digest, a reference with a digest, a bad date and an unknown key are one error listing each", () => {
        const text = `updated: last week\nextra: 1\nparents:\n  "python:3.9": sha256:abc\n  "python:3.10@${D1}": ${D1}\n`;
        assert.throws(
            () => parseParentLock(text, "images/parents.lock"),
            (e: Error) => {
                assert.ok(e instanceof CatalogError);
                for (const part of ['"last week"', '"extra"', '"python:3.9" has "sha256:abc"', `"python:3.10@${D1}"`, "npm run parents"]) {
                    assert.ok(e.message.includes(part), `${part} missing from:\n${e.message}`);
                }
                return true;
            },
        );
    });

    it("a folder without a lock has no pins; a written lock reads back", () => {
        const dir = copyImages();
        fs.rmSync(path.join(dir, LOCK_FILE), { force: true });
        assert.deepStrictEqual(readParentLock(dir), EMPTY_LOCK);
        const lock = lockOf({ "python:3.9": D2 }, "2026-11-30");
        writeParentLock(dir, lock);
        assert.deepStrictEqual(readParentLock(dir), lock);
    });

    it("its age is counted in whole UTC days from `updated`", () => {
        assert.strictEqual(lockAgeDays(lockOf({}, "2026-10-30"), new Date("2026-11-30T12:00:00Z")), 31);
        assert.strictEqual(lockAgeDays(lockOf({}), new Date()), undefined);
    });
});
