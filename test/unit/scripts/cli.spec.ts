// scripts/cli.js: runs a command's build in dist/ when it is newer than every TypeScript source,
// else the TypeScript through ts-node, so an edit never runs stale. Checked on a project folder
// of its own whose build and source say which one ran.
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR, tempDir } from "../../support/fixtures";

function project(): string {
    const dir = tempDir("cli-project");
    fs.mkdirSync(path.join(dir, "scripts"));
    fs.copyFileSync(path.join(PROJECT_DIR, "scripts", "cli.js"), path.join(dir, "scripts", "cli.js"));
    fs.symlinkSync(path.join(PROJECT_DIR, "node_modules"), path.join(dir, "node_modules"));
    fs.mkdirSync(path.join(dir, "src", "cli"), { recursive: true });
    fs.writeFileSync(
        path.join(dir, "src", "cli", "hello.ts"),
        `export async function runHello(argv: string[]): Promise<number> {\n    process.stdout.write(\`from TypeScript \${argv.join(" ")}\\n\`);\n    return 3;\n}\n`,
    );
    fs.mkdirSync(path.join(dir, "dist", "cli"), { recursive: true });
    fs.writeFileSync(
        path.join(dir, "dist", "cli", "hello.js"),
        `exports.runHello = async (argv) => { process.stdout.write("from dist " + argv.join(" ") + "\\n"); return 4; };\n`,
    );
    return dir;
}

const run = (dir: string, ...args: string[]) =>
    spawnSync(process.execPath, [path.join(dir, "scripts", "cli.js"), ...args], { encoding: "utf8" });

describe("scripts/cli.js: compiled commands, never a stale build", function () {
    this.timeout(20_000);

    it("runs dist/ when its build is newer than every source, passing the arguments and the exit code through", () => {
        const dir = project();
        const built = path.join(dir, "dist", ".built");
        fs.writeFileSync(built, "");
        const later = new Date(Date.now() + 60_000);
        fs.utimesSync(built, later, later);
        const out = run(dir, "src/cli/hello.ts", "--stack", "prod");
        assert.equal(out.stdout, "from dist --stack prod\n");
        assert.equal(out.status, 4);
    });

    it("runs the TypeScript when a source is newer than the build, or there is no build", () => {
        const dir = project();
        const stale = run(dir, "src/cli/hello.ts", "x");
        assert.equal(stale.stdout, "from TypeScript x\n", stale.stderr);
        assert.equal(stale.status, 3);
        const built = path.join(dir, "dist", ".built");
        fs.writeFileSync(built, "");
        const earlier = new Date(Date.now() - 60_000);
        fs.utimesSync(built, earlier, earlier);
        assert.equal(run(dir, "src/cli/hello.ts").stdout, "from TypeScript \n");
    });

    it("refuses anything but a command of src/cli/", () => {
        const out = run(project(), "../elsewhere.ts");
        assert.equal(out.status, 1);
        assert.match(out.stderr, /^usage: node scripts\/cli\.js src\/cli\/<command>\.ts \[args\.\.\.\] \(given: \.\.\/elsewhere\.ts\)/);
    });
});
