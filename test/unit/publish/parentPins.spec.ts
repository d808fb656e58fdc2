import { strict as assert } from "assert";
import { loadCatalog } from "../../../src/images/catalog";
import { parseStackConfig } from "../../../src/config/stackConfig";
import { planImages } from "../../../src/publish/plannedImages";
import { EMPTY_LOCK, ParentLock } from "../../../src/images/parentLock";
import { checkExitCode, ParentStatus, parentUses, parentWarnings, splitParent, updatedLock } from "../../../src/publish/parentPins";
import { planItems } from "../../../src/cli/render";
import { UserError } from "../../../src/errors";
import { committedRawConfig } from "../../support/fixtures";

const D1 = `sha256:${"a".repeat(64)}`;
const D2 = `sha256:${"b".repeat(64)}`;
const lockOf = (pins: Record<string, string | undefined>, updated?: string): ParentLock => ({
    updated,
    pins: new Map(Object.entries(pins)),
});

describe("parent pins in the plan", () => {
    const catalog = loadCatalog();
    const dev = (extra: Record<string, unknown> = {}) =>
        parseStackConfig({ ...committedRawConfig("dev"), ...extra }, catalog, "Pulumi.dev.yaml");
    const allPinned = lockOf({ "python:3.9": D1, "nvidia/cuda:12.8.1-base-ubuntu22.04": D2 });

    it("each --json plan item names its parent: with the digest when pinned, the bare reference when not", () => {
        const pinned = planItems(planImages(dev(), catalog, lockOf({ "python:3.9": D1 })));
        const byTag = Object.fromEntries(pinned.map((i) => [i.image, i.parent]));
        assert.equal(byTag["localhost:5000/baseten/truss-server-base:3.9-dev"], `python:3.9@${D1}`);
        assert.equal(byTag["localhost:5000/baseten/truss-server-base:3.9-gpu-dev"], "nvidia/cuda:12.8.1-base-ubuntu22.04");
    });

    it("requirePinnedParents: an unpinned parent is one error naming it, an image of it and the command that pins it", () => {
        assert.throws(
            () => planImages(dev({ requirePinnedParents: true }), catalog, lockOf({ "python:3.9": D1 })),
            (e: Error) => {
                assert.ok(e instanceof UserError);
                assert.match(e.message, /requirePinnedParents is true, but 1 parent image has no pin in images\/parents\.lock/);
                assert.match(
                    e.message,
                    /nvidia\/cuda:12\.8\.1-base-ubuntu22\.04 \(parent of 2 images, e\.g\. localhost:5000\/baseten\/truss-server-base:3\.9-gpu-dev\)/,
                );
                assert.match(e.message, /npm run parents -- --stack <name> --update/);
                return true;
            },
        );
        assert.equal(planImages(dev({ requirePinnedParents: true }), catalog, allPinned).length, 4);
    });

    it("requirePinnedParents must be a boolean", () => {
        assert.throws(() => dev({ requirePinnedParents: "yes" }), /requirePinnedParents: .*expected true or false/);
    });

    it("the plan warns once per unpinned parent, with the command, and when the lock is older than 30 days", () => {
        const images = planImages(dev(), catalog, lockOf({ "python:3.9": D1 }, "2026-10-01"));
        const warnings = parentWarnings(images, lockOf({ "python:3.9": D1 }, "2026-10-01"), "dev", new Date("2026-11-30T00:00:00Z"));
        assert.equal(warnings.length, 2);
        assert.match(
            warnings[0],
            /^warning: parent nvidia\/cuda:12\.8\.1-base-ubuntu22\.04 is not pinned .*2 images build from its tag.*npm run parents -- --stack dev --update/,
        );
        assert.match(warnings[1], /last updated 2026-10-01 \(60 days ago, more than 30\).*npm run parents -- --stack dev --check/);
        const fresh = parentWarnings(
            planImages(dev(), catalog, allPinned),
            { ...allPinned, updated: "2026-11-15" },
            "dev",
            new Date("2026-11-30"),
        );
        assert.deepEqual(fresh, []);
    });
});

describe("npm run parents: pure parts", () => {
    const catalog = loadCatalog();

    it("parentUses lists every catalog parent with the stack's images of each, after the stack's overrides", () => {
        const config = parseStackConfig(
            { ...committedRawConfig("dev"), parents: { "python:3.9": "127.0.0.1:5000/library/python:3.9" } },
            catalog,
            "test",
        );
        const uses = parentUses(config, catalog);
        const local = uses.find((u) => u.reference === "127.0.0.1:5000/library/python:3.9")!;
        assert.deepEqual(local.images, [
            "localhost:5000/baseten/truss-server-base:3.9-dev",
            "localhost:5000/baseten/truss-training-base:3.9-dev",
        ]);
        assert.equal(local.catalogImages, 4, "server and training, with and without live reload");
        assert.equal(
            uses.find((u) => u.reference === "python:3.9"),
            undefined,
            "the overridden reference is not a parent any more",
        );
        assert.deepEqual(uses.find((u) => u.reference === "python:3.12")!.images, []);
        assert.deepEqual(
            uses.map((u) => u.reference),
            [...uses.map((u) => u.reference)].sort(),
        );
    });

    it("splitParent: Docker Hub official images, namespaced images and other registries", () => {
        assert.deepEqual(splitParent("python:3.11"), { server: "docker.io", repository: "docker.io/library/python", tag: "3.11" });
        assert.deepEqual(splitParent("nvidia/cuda:12.8.1-base-ubuntu22.04"), {
            server: "docker.io",
            repository: "docker.io/nvidia/cuda",
            tag: "12.8.1-base-ubuntu22.04",
        });
        assert.deepEqual(splitParent("nvcr.io/nvidia/pytorch:24.01-py3"), {
            server: "nvcr.io",
            repository: "nvcr.io/nvidia/pytorch",
            tag: "24.01-py3",
        });
        assert.deepEqual(splitParent("127.0.0.1:5000/library/python"), {
            server: "127.0.0.1:5000",
            repository: "127.0.0.1:5000/library/python",
            tag: "latest",
        });
    });

    const status = (reference: string, state: ParentStatus["state"], extra: Partial<ParentStatus> = {}): ParentStatus => ({
        reference,
        images: [],
        catalogImages: 1,
        state,
        ...extra,
    });

    it("--check exit codes: 0 unchanged or unpinned, 4 moved or tag gone with its pin served, 1 gone or unreachable", () => {
        assert.equal(checkExitCode([status("a:1", "unchanged"), status("b:1", "unpinned")]), 0);
        assert.equal(checkExitCode([status("a:1", "unchanged"), status("b:1", "moved")]), 4);
        assert.equal(checkExitCode([status("a:1", "tag-gone")]), 4);
        assert.equal(checkExitCode([status("a:1", "moved"), status("b:1", "gone")]), 1);
        assert.equal(checkExitCode([status("a:1", "moved"), status("b:1", "error")]), 1);
    });

    it("--update pins moved and unpinned parents, keeps gone and unreachable ones as they were, dates the lock only if a pin changed", () => {
        const lock = lockOf({ "a:1": D1, "b:1": D1, "c:1": D1, "d:1": undefined, "stale:1": D2 }, "2026-01-01");
        const statuses = [
            status("a:1", "unchanged", { pinned: D1, current: D1 }),
            status("b:1", "moved", { pinned: D1, current: D2 }),
            status("c:1", "tag-gone", { pinned: D1 }),
            status("d:1", "unpinned", { current: D2 }),
            status("e:1", "error", { error: "unreachable" }),
        ];
        const { lock: next, changed } = updatedLock(lock, statuses, "2026-11-30");
        assert.deepEqual(
            changed.map((s) => s.reference),
            ["b:1", "d:1"],
        );
        assert.deepEqual(Object.fromEntries(next.pins), { "a:1": D1, "b:1": D2, "c:1": D1, "d:1": D2, "e:1": undefined, "stale:1": D2 });
        assert.equal(next.updated, "2026-11-30");
        const same = updatedLock(lock, [status("a:1", "unchanged", { pinned: D1, current: D1 })], "2026-11-30");
        assert.equal(same.lock.updated, "2026-01-01");
        assert.deepEqual(same.changed, []);
        assert.deepEqual(updatedLock(EMPTY_LOCK, [], "2026-11-30").lock.updated, undefined);
    });
});
