// The GitHub Actions workflows: valid for GitHub (schema-checked by @action-validator/core), and
// every `npm run` they use is a script of this repository whose command the tests exercise.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { validateAction, validateWorkflow, ValidationError } from "@action-validator/core";
import { PROJECT_DIR } from "../../support/fixtures";
import { DEFINITION_PATHS, definesBaseImages } from "../../../src/images/trussHistory";

const WORKFLOWS_DIR = path.join(PROJECT_DIR, ".github", "workflows");
const ACTIONS_DIR = path.join(PROJECT_DIR, ".github", "actions");
const TRUSS_EXAMPLE = path.join(PROJECT_DIR, "docs", "truss-release.example.yml");

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; if?: string; env?: Record<string, string> };
type Job = { steps?: Step[]; environment?: unknown; permissions?: Record<string, string>; needs?: string | string[]; if?: string };
type Workflow = { on: Record<string, unknown>; jobs: Record<string, Job> };

const read = (file: string) => fs.readFileSync(file, "utf8");
const workflowFiles = fs
    .readdirSync(WORKFLOWS_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.join(WORKFLOWS_DIR, f));
const actionFiles = fs.readdirSync(ACTIONS_DIR).map((d) => path.join(ACTIONS_DIR, d, "action.yml"));
const workflow = (name: string): Workflow => YAML.parse(read(path.join(WORKFLOWS_DIR, name)));

/** Every error of a validation, nested ones included, as one line each. */
function errorLines(errors: readonly ValidationError[], indent = ""): string[] {
    return errors.flatMap((e) => [
        `${indent}${"path" in e ? e.path : ""} ${e.title}${e.detail ? `: ${e.detail}` : ""}`,
        ...("states" in e && e.states ? e.states.flatMap((s) => errorLines(s.errors, `${indent}  `)) : []),
    ]);
}

/** Every step of every job (workflows) or of the action (composite actions). */
function stepsOf(file: string): Step[] {
    const doc = YAML.parse(read(file));
    if (doc.runs) return doc.runs.steps ?? [];
    return Object.values(doc.jobs as Record<string, Job>).flatMap((j) => j.steps ?? []);
}

/** `npm run --silent parents -- ...` -> `parents`; `npm test` -> `test`. */
function npmScripts(run: string): string[] {
    const out: string[] = [];
    for (const m of run.matchAll(/\bnpm\s+run\s+(?:(?:--silent|-s)\s+)*([\w:.-]+)/g)) out.push(m[1]);
    for (const _m of run.matchAll(/\bnpm\s+(?:test|t)\b/g)) out.push("test");
    return out;
}

function testFiles(dir = path.join(PROJECT_DIR, "test")): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        return e.isDirectory() ? testFiles(p) : e.name.endsWith(".spec.ts") ? [p] : [];
    });
}

describe("GitHub Actions workflows", () => {
    for (const file of [...workflowFiles, TRUSS_EXAMPLE]) {
        it(`${path.relative(PROJECT_DIR, file)} is a valid workflow`, () => {
            const result = validateWorkflow(read(file));
            assert.deepEqual(errorLines(result.errors), []);
        });
    }
    for (const file of actionFiles) {
        it(`${path.relative(PROJECT_DIR, file)} is a valid action`, () => {
            assert.deepEqual(errorLines(validateAction(read(file)).errors), []);
        });
    }

    it("the validator rejects a workflow with a misspelt key (so a pass above means something)", () => {
        const broken = read(path.join(WORKFLOWS_DIR, "release.yml")).replace("runs-on:", "run-on:");
        assert.notEqual(errorLines(validateWorkflow(broken).errors).length, 0);
    });

    it("every `npm run` of the workflows, the shared action and the Truss example is a script of package.json whose command a test runs", () => {
        const pkg = JSON.parse(read(path.join(PROJECT_DIR, "package.json"))) as { scripts: Record<string, string> };
        const tests = testFiles().map(read);
        const used = new Set<string>();
        for (const file of [...workflowFiles, ...actionFiles, TRUSS_EXAMPLE]) {
            for (const step of stepsOf(file)) for (const s of npmScripts(step.run ?? "")) used.add(s);
        }
        assert.ok(used.has("test") && used.has("parents") && used.has("release-check"), [...used].join(", "));
        for (const script of used) {
            const command = pkg.scripts[script];
            assert.ok(command, `the workflows run \`npm run ${script}\`, which package.json does not define`);
            const cli = /\bsrc\/cli\/([\w-]+)\.ts\b/.exec(command);
            if (script === "test") continue;
            assert.ok(cli, `npm run ${script} (${command}) is not a command of src/cli/ that tests can run`);
            const importer = new RegExp(`["'](?:\\.\\./)+src/cli/${cli[1]}["']`);
            assert.ok(
                tests.some((t) => importer.test(t)),
                `no test under test/ imports src/cli/${cli[1]}, which \`npm run ${script}\` runs`,
            );
        }
    });

    it("pulumi runs only through pulumi/actions: preview for prod on pull requests, up for prod in the protected prod environment", () => {
        for (const file of [...workflowFiles, ...actionFiles]) {
            for (const step of stepsOf(file)) {
                assert.doesNotMatch(step.run ?? "", /(^|\s)pulumi\s/m, `${path.basename(file)} runs the Pulumi CLI itself`);
            }
        }
        const pulumiStep = (job: Job, command: string) =>
            job.steps?.find((s) => s.uses?.startsWith("pulumi/actions@") && s.with?.command === command);
        const pr = workflow("pull-request.yml");
        assert.ok(pr.on.pull_request !== undefined);
        const preview = pulumiStep(pr.jobs.release, "preview");
        assert.ok(preview && String(preview.with?.["stack-name"]).endsWith("prod") && preview.with?.["comment-on-summary"] === true);
        assert.deepEqual(pr.jobs.release.needs, "test");
        assert.ok(pr.jobs.test.steps?.some((s) => s.run === "npm test"));

        const release = workflow("release.yml");
        assert.deepEqual(release.on.push, { branches: ["main"] });
        const up = pulumiStep(release.jobs.publish, "up");
        assert.ok(up && String(up.with?.["stack-name"]).endsWith("prod"));
        assert.equal(release.jobs.publish.environment, "prod");
        assert.equal(release.jobs["truss-integration"].needs, "publish");
    });

    it("jobs that reach AWS assume the OIDC role (id-token: write) and get the Session Manager plugin", () => {
        const action = read(path.join(ACTIONS_DIR, "setup-release", "action.yml"));
        assert.match(action, /uses: aws-actions\/configure-aws-credentials@v\d+/);
        assert.match(action, /session-manager-plugin\.deb/);
        for (const file of workflowFiles) {
            const doc: Workflow = YAML.parse(read(file));
            for (const [name, job] of Object.entries(doc.jobs)) {
                const setup = job.steps?.find((s) => s.uses === "./base-images/.github/actions/setup-release");
                if (setup?.with?.["aws-role"]) assert.equal(job.permissions?.["id-token"], "write", `${path.basename(file)}: ${name}`);
            }
        }
    });

    it("weekly: npm run parents -- --check, and on exit 4 --update and a pull request", () => {
        const weekly = workflow("parents.yml");
        assert.ok(Array.isArray(weekly.on.schedule));
        const steps = weekly.jobs.check.steps ?? [];
        const check = steps.find((s) => /npm run --silent parents -- --stack prod --check/.test(s.run ?? ""));
        assert.ok(check);
        const update = steps.find((s) => /npm run --silent parents -- --stack prod --update/.test(s.run ?? ""));
        assert.equal(update?.if, "steps.check.outputs.code == '4'");
        const pr = steps.find((s) => s.uses?.startsWith("peter-evans/create-pull-request@"));
        assert.equal(pr?.if, "steps.check.outputs.code == '4'");
        assert.equal(pr?.with?.["add-paths"], "images/parents.lock");
    });

    describe("the Truss-side example (docs/truss-release.example.yml)", () => {
        const example: Workflow = YAML.parse(read(TRUSS_EXAMPLE));

        it("runs on a pull request touching any path that defines base images, exactly those the checkout reader reads", () => {
            const on = example.on as { pull_request?: { paths?: string[] } };
            assert.deepEqual(on.pull_request?.paths, [...DEFINITION_PATHS]);
            // Changes that a workflow filtering on the old `docker/base_images/**` and `truss/base/**` missed.
            for (const rel of [
                "truss/templates/server/requirements.txt",
                "truss/templates/training/requirements.txt",
                "truss/contexts/image_builder/util.py",
                "bin/generate_base_images.py",
                "truss/templates/control/control/server.py",
            ]) {
                assert.ok(definesBaseImages(rel), rel);
            }
            for (const rel of ["docs/README.md", "truss/templates/server/model_wrapper.py", "truss/contexts/image_builder/other.py"]) {
                assert.ok(!definesBaseImages(rel), rel);
            }
        });

        it("checks Truss out with its full history, runs release-check for prod, and on exit 2 publishes before the merge", () => {
            assert.deepEqual(
                Object.keys(example.on),
                ["pull_request"],
                "nothing waits for the merge: publishing starts from the pull request",
            );
            const check = example.jobs["release-check"];
            const truss = check.steps?.find((s) => s.uses?.startsWith("actions/checkout@") && s.with?.path === "truss");
            assert.equal(truss?.with?.["fetch-depth"], 0);
            const run = check.steps?.find((s) => /npm run --silent release-check -- --stack prod --truss \.\.\/truss/.test(s.run ?? ""));
            assert.ok(run, "release-check step");
            assert.match(run.run ?? "", /echo "code=\$code" >> "\$GITHUB_OUTPUT"/);
            const publish = example.jobs.publish;
            assert.equal(publish.needs, "release-check");
            assert.equal(publish.if, "needs.release-check.outputs.code == '2'");
            const dispatch = publish.steps?.find((s) => /gh workflow run release\.yml .* -f truss-ref="\$TRUSS_SHA"/.test(s.run ?? ""));
            assert.equal(dispatch?.env?.TRUSS_SHA, "${{ github.event.pull_request.head.sha }}");
        });

        it("this repository's release jobs check Truss out with its full history too (release-check reads it)", () => {
            const action = YAML.parse(read(path.join(ACTIONS_DIR, "setup-release", "action.yml")));
            const truss = (action.runs.steps as Step[]).find((s) => s.uses?.startsWith("actions/checkout@") && s.with?.path === "truss");
            assert.equal(truss?.with?.["fetch-depth"], 0);
        });
    });
});
