// Reading a Truss checkout's git history as data: which commit set a version tag, what the
// checkout defined then, which commits changed a file; and that the repository's own git
// configuration runs nothing while it is read. Uses the git binary on fixture repositories made
// here (no network).
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { HistoryUnavailableError, MAX_HISTORY_FILE_BYTES, TrussHistory } from "../../../src/images/trussHistory";
import { TrussCheckoutError } from "../../../src/images/trussCheckout";
import { tempDir } from "../../support/fixtures";
import { git, SERVER_REQUIREMENTS, short, TrussRepo } from "../../support/trussGit";

describe("a Truss checkout's git history", function () {
    this.timeout(20_000);

    it("finds the commit that set each tag on the first-parent line, skipping commits that only touch the line's comment", async () => {
        const repo = TrussRepo.create("v0.1.0");
        const first = repo.head();
        repo.docsCommits(2);
        const second = repo.setTag("v0.2.0") as string;
        repo.edit("truss/contexts/image_builder/util.py", /TRUSS_BASE_IMAGE_VERSION_TAG = .*/, `TRUSS_BASE_IMAGE_VERSION_TAG = "v0.2.0"  # bumped`);
        repo.commit("comment only");
        const history = await TrussHistory.open(repo.dir);
        try {
            assert.deepEqual(await history.tagCommit("v0.2.0"), {
                set: { tag: "v0.2.0", commit: second, short: short(second) },
                previous: { tag: "v0.1.0", commit: first, short: short(first) },
            });
            assert.deepEqual(await history.tagCommit("v0.1.0"), { set: { tag: "v0.1.0", commit: first, short: short(first) } });
            assert.equal(await history.tagCommit("v9"), undefined);
            assert.equal(await history.headTag(), "v0.2.0");
        } finally {
            history.close();
        }
    });

    it("a tag set on a branch and merged counts from the merge commit of the first-parent line", async () => {
        const repo = TrussRepo.create("v0.1.0");
        git(repo.dir, "checkout", "-q", "-b", "bump");
        repo.setTag("v0.2.0");
        git(repo.dir, "checkout", "-q", "main");
        repo.docsCommits(1);
        git(repo.dir, "merge", "-q", "--no-ff", "-m", "Merge bump", "bump");
        const merge = repo.head();
        const history = await TrussHistory.open(repo.dir);
        try {
            assert.equal((await history.tagCommit("v0.2.0"))?.set.commit, merge);
        } finally {
            history.close();
        }
    });

    it("reads what the checkout defined at a commit, and the commits since that changed a file", async () => {
        const repo = TrussRepo.create("v0.1.0");
        const first = repo.head();
        repo.edit(SERVER_REQUIREMENTS, "aiofiles>=24.1.0", "aiofiles>=25");
        const change = repo.commit("aiofiles 25");
        repo.docsCommits(1);
        const history = await TrussHistory.open(repo.dir);
        try {
            const then = await history.checkoutAt(first);
            assert.equal(then?.versionTag, "v0.1.0");
            assert.match(fs.readFileSync(path.join(then!.dir, SERVER_REQUIREMENTS), "utf8"), /aiofiles>=24\.1\.0/);
            assert.deepEqual(await history.commitsChanging(first, SERVER_REQUIREMENTS), [short(change)]);
        } finally {
            history.close();
        }
    });

    it("a shallow clone and a folder without git: one HistoryUnavailableError each, saying to fetch the full history", async () => {
        const repo = TrussRepo.create("v0.1.0");
        repo.docsCommits(1);
        await assert.rejects(TrussHistory.open(repo.shallowClone()), (e: Error) => {
            assert.ok(e instanceof HistoryUnavailableError);
            assert.match(e.message, /is a shallow clone: its history stops at [0-9a-f]{12}.*fetch-depth: 0.*fetch --unshallow/);
            return true;
        });
        await assert.rejects(TrussHistory.open(tempDir("no-git")), /has no git history to read \(no \.git in it or any folder above\)/);
    });

    it("a symlink or an oversized file in a commit is an error naming it, never read", async () => {
        const repo = TrussRepo.create("v0.1.0");
        fs.rmSync(path.join(repo.dir, SERVER_REQUIREMENTS));
        const outside = path.join(tempDir("outside"), "secret.txt");
        fs.writeFileSync(outside, "not part of the checkout\n");
        fs.symlinkSync(outside, path.join(repo.dir, SERVER_REQUIREMENTS));
        const linked = repo.commit("link");
        repo.write(SERVER_REQUIREMENTS, "x".repeat(MAX_HISTORY_FILE_BYTES + 1));
        const big = repo.commit("big");
        const history = await TrussHistory.open(repo.dir);
        try {
            await assert.rejects(history.checkoutAt(linked), (e: Error) => {
                assert.ok(e instanceof TrussCheckoutError);
                assert.match(e.message, new RegExp(`at commit ${short(linked)}: ${SERVER_REQUIREMENTS} is a symbolic link`));
                return true;
            });
            await assert.rejects(history.checkoutAt(big), new RegExp(`${SERVER_REQUIREMENTS} is ${MAX_HISTORY_FILE_BYTES + 1} bytes, more than`));
            assert.equal(fs.readFileSync(outside, "utf8"), "not part of the checkout\n");
        } finally {
            history.close();
        }
    });

    it("the repository's own git config runs nothing: fsmonitor, hooks, pager, external diff, textconv, signature checks", async () => {
        const repo = TrussRepo.create("v0.1.0");
        const marker = path.join(tempDir("marker"), "ran");
        const script = path.join(tempDir("evil"), "evil.sh");
        fs.writeFileSync(script, `#!/bin/sh\necho ran >> ${marker}\nexit 0\n`, { mode: 0o755 });
        repo.setTag("v0.2.0");
        repo.edit(SERVER_REQUIREMENTS, "aiofiles>=24.1.0", "aiofiles>=25");
        repo.commit("change");
        // Set after the test's own commits, which would run them.
        for (const [key, value] of [
            ["core.fsmonitor", script],
            ["core.hooksPath", path.dirname(script)],
            ["core.pager", script],
            ["diff.external", script],
            ["diff.evil.textconv", script],
            ["log.showSignature", "true"],
            ["gpg.program", script],
            // And settings that would change the answer: the first commit's diff, renames followed.
            ["log.showRoot", "false"],
            ["log.follow", "true"],
        ]) {
            git(repo.dir, "config", key, value);
        }
        fs.writeFileSync(path.join(repo.dir, ".gitattributes"), "* diff=evil\n");
        const history = await TrussHistory.open(repo.dir);
        try {
            const found = await history.tagCommit("v0.2.0");
            assert.equal(found?.previous?.tag, "v0.1.0");
            assert.equal(found?.previous?.commit, git(repo.dir, "rev-list", "--max-parents=0", "HEAD"), "v0.1.0 was set by the first commit");
            await history.checkoutAt(found!.previous!.commit);
            assert.equal((await history.commitsChanging(found!.set.commit, SERVER_REQUIREMENTS)).length, 1);
        } finally {
            history.close();
        }
        assert.equal(fs.existsSync(marker), false, "a program named by the repository's config ran");
    });
});
