import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as path from "path";
import { ensureDockerDaemon } from "../../support/docker";

const ROOT = path.resolve(__dirname, "..", "..", "..");

describe("scripts/setup.sh and .ci/run on this machine (shellcheck, the real packages and daemon)", () => {
    it("pass shellcheck", () => {
        const r = spawnSync("shellcheck", ["scripts/setup.sh", ".ci/run"], { cwd: ROOT, encoding: "utf8" });
        assert.equal(r.error, undefined, "shellcheck is installed (npm run setup installs it)");
        assert.equal(r.status, 0, r.stdout + r.stderr);
    });

    it("on a machine already set up, npm run setup -- --dry-run finds every package and the daemon, and would only run npm ci", async () => {
        await ensureDockerDaemon();
        const r = spawnSync("bash", ["scripts/setup.sh", "--dry-run"], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /already installed: docker\.io docker-registry busybox-static/);
        assert.match(r.stdout, /a Docker daemon answers/);
        assert.deepEqual(
            r.stdout.split("\n").filter((l) => l.startsWith("would ")),
            ["would run: npm ci --no-audit --no-fund"],
        );
        assert.match(r.stdout, /ready: npm test/);
    });
});
