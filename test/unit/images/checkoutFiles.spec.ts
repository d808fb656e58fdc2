// Reading a Truss checkout as data: every file read is a regular file whose real path is inside
// the checkout, within the size limits; anything else is one error naming the path and what it
// is. Fixture checkouts from test/support/trussCheckouts.ts, broken the way a pull request could
// break them (FIFOs are made with coreutils' mkfifo).
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { loadStack } from "../../../src/config/definition";
import { SECRET_PRESENT } from "../../../src/config/stackConfig";
import { UserError } from "../../../src/errors";
import { CheckoutFiles, CHECKOUT_FILE_LIMIT } from "../../../src/images/checkoutFiles";
import { planImages } from "../../../src/publish/plannedImages";
import { tempDir } from "../../support/fixtures";
import { TrussLayout, writeTrussCheckout } from "../../support/trussCheckouts";

const PROJECT = path.resolve(__dirname, "..", "..", "..");
const TEMPLATE = "docker/base_images/base_image.Dockerfile.jinja";
const REQUIREMENTS = "truss/templates/server/requirements.txt";
const SECRET = "-----BEGIN OPENSSH PRIVATE KEY----- not-for-images";

/** Plans every image of a checkout (the template rendered, every file its contexts use read); the error when that fails. */
function planError(dir: string, matrix: Record<string, unknown> = {}): UserError {
    try {
        const { config, catalog } = loadStack(
            {
                truss: { checkout: dir },
                registry: { server: "docker.io", namespace: "baseten" },
                matrix: { jobTypes: ["server"], gpu: [false, true], liveReload: [false], ...matrix },
                builders: { mode: "local" },
                registryPassword: SECRET_PRESENT,
            },
            { projectDir: PROJECT, source: "Pulumi.test.yaml" },
        );
        planImages(config, catalog);
    } catch (e) {
        if (e instanceof UserError) return e;
        throw e;
    }
    throw new assert.AssertionError({ message: "expected a UserError, but the checkout was accepted" });
}

function outsideFile(): string {
    const file = path.join(tempDir("outside"), "id_ed25519");
    fs.writeFileSync(file, SECRET + "\n");
    return file;
}

function replaceWithSymlink(dir: string, rel: string, target: string): void {
    const p = path.join(dir, ...rel.split("/"));
    fs.rmSync(p, { recursive: true, force: true });
    fs.symlinkSync(target, p);
}

function assertOneError(e: UserError, ...parts: string[]): void {
    for (const part of parts) assert.ok(e.message.includes(part), `does not say ${JSON.stringify(part)}:\n${e.message}`);
    assert.strictEqual(e.message.split("\n").length, 1, `one line:\n${e.message}`);
    assert.ok(!e.message.includes(SECRET), "the content of a file outside is never shown");
}

describe("a Truss checkout is read as data: regular files inside it, of bounded size", () => {
    it("a requirements file that is a symlink to a file outside the checkout (a private key) is refused, naming the link and its target", () => {
        const dir = writeTrussCheckout("today");
        const target = outsideFile();
        replaceWithSymlink(dir, REQUIREMENTS, target);
        assertOneError(planError(dir), dir, `${REQUIREMENTS} is a symlink to ${target}`, "outside the checkout");
    });

    it("a symlink to a file outside reached through a relative path with .. is refused the same way", () => {
        const dir = writeTrussCheckout("today");
        const target = outsideFile();
        const relative = path.relative(path.dirname(path.join(dir, TEMPLATE)), target);
        replaceWithSymlink(dir, TEMPLATE, relative);
        assertOneError(planError(dir), `${TEMPLATE} is a symlink to ${relative} (${fs.realpathSync(target)}), outside the checkout`);
    });

    it("a symlinked truss/templates/control pulling in a foreign folder is refused when a template copies control/", () => {
        const dir = writeTrussCheckout("2023-include");
        const foreign = tempDir("foreign");
        fs.mkdirSync(path.join(foreign, "control"), { recursive: true });
        fs.writeFileSync(path.join(foreign, "requirements.txt"), "evil==1\n");
        fs.writeFileSync(path.join(foreign, "control", "id_ed25519"), SECRET);
        replaceWithSymlink(dir, "truss/templates/control", foreign);
        assertOneError(planError(dir, { liveReload: [true] }), `truss/templates/control is a symlink to ${foreign}`, "outside the checkout");
    });

    it("a symlinked job-type folder pointing outside is refused, not read as a job type", () => {
        const dir = writeTrussCheckout("today");
        const foreign = tempDir("foreign-job");
        fs.writeFileSync(path.join(foreign, "requirements.txt"), "evil==1\n");
        fs.symlinkSync(foreign, path.join(dir, "truss/templates/evil"));
        assertOneError(planError(dir), `truss/templates/evil is a symlink to ${foreign}, outside the checkout`);
    });

    it("a FIFO in place of a requirements file is refused at once (never opened, so nothing hangs)", () => {
        const dir = writeTrussCheckout("today");
        fs.rmSync(path.join(dir, REQUIREMENTS));
        execFileSync("mkfifo", [path.join(dir, REQUIREMENTS)]);
        assertOneError(planError(dir), `${REQUIREMENTS} is a FIFO (named pipe), not a regular file`);
    });

    it("a FIFO in truss/templates/control is refused when a template copies control/", () => {
        const dir = writeTrussCheckout("2023-include");
        execFileSync("mkfifo", [path.join(dir, "truss/templates/control/control/pipe")]);
        assertOneError(planError(dir, { liveReload: [true] }), "truss/templates/control/control/pipe is a FIFO (named pipe)");
    });

    it("a file larger than 1 MiB is refused with its size and the limit, before it is read", () => {
        const dir = writeTrussCheckout("today");
        const big = path.join(dir, REQUIREMENTS);
        fs.truncateSync(big, CHECKOUT_FILE_LIMIT + 1);
        assertOneError(planError(dir), `${REQUIREMENTS} is ${CHECKOUT_FILE_LIMIT + 1} bytes, more than the limit of 1 MiB per file`);
    });

    it("an included template that is a symlink outside the checkout is refused", () => {
        const dir = writeTrussCheckout("2023-include");
        const target = outsideFile();
        replaceWithSymlink(dir, "truss/templates/_truss_build.Dockerfile.jinja", target);
        assertOneError(planError(dir), "truss/templates/_truss_build.Dockerfile.jinja is a symlink to", "outside the checkout");
    });

    it("a dangling symlink is refused, naming where it points", () => {
        const dir = writeTrussCheckout("today");
        replaceWithSymlink(dir, REQUIREMENTS, "/nonexistent/requirements.txt");
        assertOneError(planError(dir), `${REQUIREMENTS} is a symlink to /nonexistent/requirements.txt, which does not exist`);
    });

    for (const layout of ["today", "2023-include"] as TrussLayout[]) {
        it(`symlinks that stay inside the checkout are followed (a file and a folder; ${layout} layout): Truss's script copies what they point to`, () => {
            const dir = writeTrussCheckout(layout);
            fs.mkdirSync(path.join(dir, "common"));
            fs.writeFileSync(path.join(dir, "common", "requirements.txt"), "inside==1\n");
            replaceWithSymlink(dir, REQUIREMENTS, "../../../common/requirements.txt");
            fs.renameSync(path.join(dir, "truss/templates/control"), path.join(dir, "common/control"));
            fs.symlinkSync("../../common/control", path.join(dir, "truss/templates/control"));
            const { config, catalog } = loadStack(
                {
                    truss: { checkout: dir },
                    registry: { server: "docker.io", namespace: "baseten" },
                    matrix: { jobTypes: ["server"], gpu: [false], liveReload: layout === "today" ? [false] : [true] },
                    builders: { mode: "local" },
                    registryPassword: SECRET_PRESENT,
                },
                { projectDir: PROJECT, source: "Pulumi.test.yaml" },
            );
            const images = planImages(config, catalog);
            for (const image of images) {
                const file = (p: string) => image.staged.files.find((f) => f.path === p)?.content.toString();
                assert.strictEqual(file("requirements.txt"), "inside==1\n");
                if (layout !== "today") assert.strictEqual(file("control/requirements.txt"), "dataclasses-json==0.5.7\ntenacity>=8.1.0\n");
            }
        });
    }

    it("a symlink loop under a folder that is walked is refused", () => {
        const dir = writeTrussCheckout("2023-include");
        fs.symlinkSync("..", path.join(dir, "truss/templates/control/control/again"));
        assertOneError(planError(dir, { liveReload: [true] }), "truss/templates/control/control/again leads back to a folder already read (a symlink loop)");
    });

    it("all files read from one checkout together stay within the total budget", () => {
        const dir = writeTrussCheckout("today");
        const files = new CheckoutFiles(dir, { total: 200 });
        assert.ok(files.read(REQUIREMENTS));
        const e = (() => {
            try {
                files.read(TEMPLATE);
            } catch (err) {
                return err as UserError;
            }
            throw new assert.AssertionError({ message: "the budget was not enforced" });
        })();
        assertOneError(e, `${TEMPLATE} brings the files read from the checkout to`, "more than the limit of 200 bytes for all of them");
    });

    it("paths that leave the checkout are refused before anything is read", () => {
        const files = new CheckoutFiles(writeTrussCheckout("today"));
        for (const rel of ["../x", "/etc/passwd", "truss//x", "truss/../../x"]) {
            assert.throws(() => files.read(rel), /is not a path inside the checkout/, rel);
        }
    });
});
