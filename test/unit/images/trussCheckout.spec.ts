// A Truss checkout as the image definition, in both of Truss's layouts (fixture checkouts written
// from scratch by test/support/trussCheckouts.ts): what is read from it, what reaches each
// image's staged context and content digest, and one clear error for every file that is missing
// or not what Truss keeps there.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { loadDefinition, loadStack } from "../../../src/config/definition";
import { SECRET_PRESENT } from "../../../src/config/stackConfig";
import { ConfigError, UserError } from "../../../src/errors";
import { contextSources } from "../../../src/images/dockerfile";
import { readTrussCheckout } from "../../../src/images/trussCheckout";
import { LABELS } from "../../../src/images/labels";
import { planImages } from "../../../src/publish/plannedImages";
import { specKey } from "../../support/fixtures";
import { FIXTURE_PYTHONS, FIXTURE_VERSION_TAG, TrussLayout, writeTrussCheckout } from "../../support/trussCheckouts";

const PROJECT = path.resolve(__dirname, "..", "..", "..");

function raw(checkout: string, extra: Record<string, unknown> = {}, matrix: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        truss: { checkout },
        registry: { server: "docker.io", namespace: "baseten" },
        matrix: { jobTypes: ["server"], gpu: [false, true], liveReload: [false], ...matrix },
        builders: { mode: "local" },
        registryPassword: SECRET_PRESENT,
        ...extra,
    };
}

function stack(checkout: string, extra: Record<string, unknown> = {}, matrix: Record<string, unknown> = {}) {
    return loadStack(raw(checkout, extra, matrix), { projectDir: PROJECT, source: "Pulumi.test.yaml" });
}

function errorOf(f: () => unknown): UserError {
    try {
        f();
    } catch (e) {
        if (e instanceof UserError) return e;
        throw e;
    }
    throw new assert.AssertionError({ message: "expected a UserError, but it was accepted" });
}

function write(dir: string, rel: string, text: string): void {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
}
function edit(dir: string, rel: string, f: (t: string) => string): void {
    const before = fs.readFileSync(path.join(dir, rel), "utf8");
    const after = f(before);
    assert.notStrictEqual(after, before, `the edit of ${rel} changed nothing`);
    fs.writeFileSync(path.join(dir, rel), after);
}

/** image key -> content digest for a checkout's images. */
function digests(checkout: string, jobTypes: string[] = ["server"]): Map<string, string> {
    const { config, catalog } = stack(checkout, {}, { jobTypes });
    return new Map(planImages(config, catalog).map((p) => [specKey(p.spec), p.contentDigest]));
}
function changed(a: Map<string, string>, b: Map<string, string>): string[] {
    assert.deepStrictEqual([...a.keys()], [...b.keys()]);
    return [...a.keys()].filter((k) => a.get(k) !== b.get(k)).sort();
}

describe("a Truss checkout as the image definition", () => {
    for (const layout of ["today", "2023", "2023-include"] as TrussLayout[]) {
        it(`reads the ${layout} layout: version tag, supported pythons in version order, job types with requirements`, () => {
            const checkout = readTrussCheckout(writeTrussCheckout(layout));
            assert.strictEqual(checkout.versionTag, FIXTURE_VERSION_TAG[layout]);
            assert.deepStrictEqual(checkout.pythonVersions, FIXTURE_PYTHONS[layout]);
            assert.deepStrictEqual([...checkout.jobTypes.keys()], layout === "today" ? ["server"] : ["server", "training"]);
            assert.strictEqual(checkout.buildTemplatePath, layout === "2023-include" ? "_truss_build.Dockerfile.jinja" : undefined);
        });
    }

    it("defaults: versionTag is TRUSS_BASE_IMAGE_VERSION_TAG, pythonVersions every supported version", () => {
        const { config } = stack(writeTrussCheckout("today"));
        assert.strictEqual(config.versionTag, "v0.13.0");
        assert.deepStrictEqual(config.matrix.pythonVersions, FIXTURE_PYTHONS.today);
        assert.ok(config.trussCheckout);
    });

    it("a relative truss.checkout is relative to the project folder; --truss overrides it", () => {
        const dir = writeTrussCheckout("2023");
        const rel = path.relative(PROJECT, dir);
        assert.strictEqual(loadDefinition(raw(rel), { projectDir: PROJECT, source: "s" }).truss?.dir, dir);
        const other = writeTrussCheckout("today");
        assert.strictEqual(loadDefinition(raw(rel), { projectDir: PROJECT, source: "s", trussOverride: other }).truss?.dir, other);
    });

    it("each image's Dockerfile is the rendered template (FROM per branch) plus the label block; the context holds only requirements.txt", () => {
        const { config, catalog } = stack(writeTrussCheckout("today"), {}, { pythonVersions: ["3.11"] });
        const [cpu, gpu] = planImages(config, catalog);
        const text = (p: typeof cpu) => p.staged.files.find((f) => f.path === "Dockerfile")!.content.toString();
        assert.match(text(cpu), /^\nFROM python:3\.11\n/);
        assert.match(text(gpu), /^\nFROM nvidia\/cuda:12\.8\.1-base-ubuntu22\.04\n/);
        assert.ok(text(gpu).includes("python3.11-venv"));
        for (const p of [cpu, gpu]) {
            assert.ok(text(p).includes(`"${LABELS.contentDigest}"=`), "the label block is appended");
            assert.deepStrictEqual(
                p.staged.files.map((f) => f.path),
                ["Dockerfile", "requirements.txt"],
            );
            assert.deepStrictEqual(p.staged.buildArgs, {});
        }
        assert.strictEqual(cpu.staged.parent, "python:3.11");
        assert.strictEqual(gpu.staged.parent, "nvidia/cuda:12.8.1-base-ubuntu22.04");
    });

    it("2023 layout: job_type reaches the template, and training images install the training requirements", () => {
        const { config, catalog } = stack(writeTrussCheckout("2023"), {}, { jobTypes: ["server", "training"], pythonVersions: ["3.8"] });
        const plan = planImages(config, catalog);
        const training = plan.find((p) => p.spec.jobType === "training" && p.spec.accelerator === "cpu")!;
        const server = plan.find((p) => p.spec.jobType === "server" && p.spec.accelerator === "cpu")!;
        assert.ok(training.staged.files[0].content.toString().includes("# training images: training for python 3.8"));
        assert.ok(!server.staged.files[0].content.toString().includes("training images"));
        assert.strictEqual(training.staged.files[1].content.toString(), "PyYAML==6.0\n");
        assert.strictEqual(training.reference, "docker.io/baseten/truss-training-base:3.8-v0.4.8rc3");
    });

    it("2023's include layout: truss_build_template_path is included from truss/templates, and live-reload variants copy control/", () => {
        const { config, catalog } = stack(writeTrussCheckout("2023-include"), {}, { jobTypes: ["server", "training"], pythonVersions: ["3.8"], liveReload: [false, true] });
        const plan = planImages(config, catalog);
        assert.strictEqual(plan.length, 8);
        for (const p of plan) {
            const dockerfile = p.staged.files.find((f) => f.path === "Dockerfile")!.content.toString();
            assert.ok(dockerfile.includes("COPY ./requirements.txt requirements.txt"), `the included template is rendered:\n${dockerfile}`);
            assert.strictEqual(dockerfile.includes("COPY ./control /control"), p.spec.liveReload, p.reference);
            const paths = p.staged.files.map((f) => f.path);
            if (p.spec.liveReload) {
                assert.deepStrictEqual(paths, ["Dockerfile", "control/control/server.py", "control/requirements.txt", "requirements.txt"]);
                assert.match(p.reference, /:3\.8(-gpu)?-reload-v0\.3\.4$/);
            } else assert.deepStrictEqual(paths, ["Dockerfile", "requirements.txt"]);
        }
        const twins = plan.filter((p) => p.spec.jobType === "server" && p.spec.accelerator === "cpu");
        assert.notStrictEqual(twins[0].contentDigest, twins[1].contentDigest);
    });

    it("a parent override replaces the FROM of the rendered Dockerfile and changes the digest", () => {
        const dir = writeTrussCheckout("today");
        const pinned = `python:3.11@sha256:${"a".repeat(64)}`;
        const base = stack(dir, {}, { pythonVersions: ["3.11"], gpu: [false] });
        const over = stack(dir, { parents: { "python:3.11": pinned } }, { pythonVersions: ["3.11"], gpu: [false] });
        const [a] = planImages(base.config, base.catalog);
        const [b] = planImages(over.config, over.catalog);
        assert.ok(b.staged.files[0].content.toString().includes(`FROM ${pinned}\n`));
        assert.strictEqual(b.staged.parent, pinned);
        assert.notStrictEqual(a.contentDigest, b.contentDigest);
    });

    describe("change precision", () => {
        it("editing only the GPU branch of the template changes exactly the GPU images", () => {
            const dir = writeTrussCheckout("today");
            const before = digests(dir);
            edit(dir, "docker/base_images/base_image.Dockerfile.jinja", (t) => t.replace("libcublas-12-8 \\", "libcublas-12-8 libcufft-12-8 \\"));
            assert.deepStrictEqual(
                changed(before, digests(dir)),
                FIXTURE_PYTHONS.today.map((v) => `server ${v} gpu`).sort(),
            );
        });

        it("editing the control server's files and requirements changes no image (the template does not copy them)", () => {
            const dir = writeTrussCheckout("today");
            const before = digests(dir);
            edit(dir, "truss/templates/control/requirements.txt", (t) => t + "Flask==2.0.3\n");
            edit(dir, "truss/templates/control/control/server.py", (t) => t + "# changed\n");
            assert.deepStrictEqual(changed(before, digests(dir)), []);
        });

        it("a template that copies control/ makes the control files part of exactly those images", () => {
            const dir = writeTrussCheckout("today");
            edit(dir, "docker/base_images/base_image.Dockerfile.jinja", (t) => t.replace("{% else %}", "COPY ./control /control\n{% else %}"));
            const { config, catalog } = stack(dir, {}, { pythonVersions: ["3.9"] });
            const [cpu, gpu] = planImages(config, catalog);
            assert.deepStrictEqual(
                gpu.staged.files.map((f) => f.path),
                ["Dockerfile", "control/control/server.py", "control/requirements.txt", "requirements.txt"],
            );
            assert.deepStrictEqual(
                cpu.staged.files.map((f) => f.path),
                ["Dockerfile", "requirements.txt"],
            );
            const before = digests(dir);
            edit(dir, "truss/templates/control/control/server.py", (t) => t + "# changed\n");
            assert.deepStrictEqual(
                changed(before, digests(dir)),
                FIXTURE_PYTHONS.today.map((v) => `server ${v} gpu`).sort(),
            );
        });

        it("editing one job type's requirements changes exactly that job type's images (2023 layout)", () => {
            const dir = writeTrussCheckout("2023");
            const before = digests(dir, ["server", "training"]);
            edit(dir, "truss/templates/training/requirements.txt", (t) => t + "accelerate==0.20.0\n");
            const expected = FIXTURE_PYTHONS["2023"].flatMap((v) => [`training ${v} cpu`, `training ${v} gpu`]).sort();
            assert.deepStrictEqual(changed(before, digests(dir, ["server", "training"])), expected);
        });

        it("the version tag and pyproject.toml reach no digest", () => {
            const dir = writeTrussCheckout("today");
            const before = digests(dir);
            edit(dir, "truss/contexts/image_builder/util.py", (t) => t.replace("v0.13.0", "v0.14.0"));
            edit(dir, "pyproject.toml", (t) => t.replace("0.18.0", "0.19.0"));
            assert.deepStrictEqual(changed(before, digests(dir)), []);
        });
    });

    it("finds what COPY and ADD read from the context, not --from copies or URLs", () => {
        assert.deepStrictEqual(
            contextSources(
                [
                    "FROM x",
                    "COPY ./requirements.txt requirements.txt",
                    "COPY --from=build /a /b",
                    "ADD https://example.com/x.tgz /x",
                    'COPY ["control/", "/c/"]',
                    "copy --chown=1:1 a.txt \\",
                    "  b.txt /dest/",
                    "COPY . /all",
                ].join("\n"),
            ),
            ["requirements.txt", "control", "a.txt", "b.txt", ""],
        );
    });

    describe("bad input: one error naming the file, what was expected and what was found", () => {
        it("a checkout that is not there says where it looked and how to set it", () => {
            const missing = path.join(path.dirname(writeTrussCheckout()), "nowhere");
            const e = errorOf(() => stack(missing));
            assert.ok(e.message.includes(`No Truss checkout at ${missing}`), e.message);
            assert.ok(e.message.includes("pulumi config set --path truss.checkout"), e.message);
            assert.ok(e.message.includes("--truss <path>"), e.message);
        });

        const cases: { what: string; breakIt: (dir: string) => void; names: string[] }[] = [
            {
                what: "no template",
                breakIt: (d) => fs.rmSync(path.join(d, "docker"), { recursive: true }),
                names: ["docker/base_images/base_image.Dockerfile.jinja", "expected the Jinja template", "no such file"],
            },
            {
                what: "a template that does not render",
                breakIt: (d) => write(d, "docker/base_images/base_image.Dockerfile.jinja", "{% if use_gpu %}\nFROM x\n"),
                names: ["docker/base_images/base_image.Dockerfile.jinja, line 1", "{% if use_gpu %} is not closed by {% endif %}"],
            },
            {
                what: "a template that reads a variable Truss's script never passed names it",
                breakIt: (d) => write(d, "docker/base_images/base_image.Dockerfile.jinja", "FROM python:{{ python_version }}\nRUN echo {{ cuda_version }}\n"),
                names: ["base_image.Dockerfile.jinja, line 2", "the variable cuda_version is not defined", "use_gpu, python_version, job_type, live_reload"],
            },
            {
                what: "a template that tries to reach the process names the construct",
                breakIt: (d) => write(d, "docker/base_images/base_image.Dockerfile.jinja", 'FROM python:3.9\nENV X={{ range.constructor("return process.env.HOME")() }}\n'),
                names: ["base_image.Dockerfile.jinja, line 2", '{{ range.constructor("return process.env.HOME")() }}', '".constructor" is not allowed'],
            },
            {
                what: "a template without FROM",
                breakIt: (d) => write(d, "docker/base_images/base_image.Dockerfile.jinja", "RUN true\n"),
                names: ["base_image.Dockerfile.jinja", "expected a FROM instruction", "found none"],
            },
            {
                what: "a template that copies a file the build context does not have",
                breakIt: (d) => edit(d, "docker/base_images/base_image.Dockerfile.jinja", (t) => t + "COPY ./constraints.txt /c.txt\n"),
                names: ["base_image.Dockerfile.jinja", "requirements.txt, control/", '"constraints.txt"'],
            },
            {
                what: "no util.py",
                breakIt: (d) => fs.rmSync(path.join(d, "truss/contexts/image_builder/util.py")),
                names: ["truss/contexts/image_builder/util.py", "TRUSS_BASE_IMAGE_VERSION_TAG", "no such file"],
            },
            {
                what: "a version tag that is not a string literal",
                breakIt: (d) => edit(d, "truss/contexts/image_builder/util.py", (t) => t.replace(/TRUSS_BASE_IMAGE_VERSION_TAG = .*/, "TRUSS_BASE_IMAGE_VERSION_TAG = f\"v{__version__}\"")),
                names: ["util.py", "string literal", 'TRUSS_BASE_IMAGE_VERSION_TAG = "f\\"v{__version__}\\""'],
            },
            {
                what: "no supported python versions anywhere",
                breakIt: (d) => fs.rmSync(path.join(d, "truss/base/constants.py")),
                names: ["truss/base/constants.py or truss/constants.py or bin/generate_base_images.py", "SUPPORTED_PYTHON_VERSIONS", "none of them"],
            },
            {
                what: "supported python versions that are not quoted versions",
                breakIt: (d) => edit(d, "truss/base/constants.py", (t) => t.replace('"3.9", ', "3.9, ")),
                names: ["truss/base/constants.py", "quoted python versions", "3.9 is not a quoted python version"],
            },
            {
                what: "no truss/templates",
                breakIt: (d) => fs.rmSync(path.join(d, "truss/templates"), { recursive: true }),
                names: ["truss/templates", "one folder per job type", "no such folder"],
            },
        ];
        for (const c of cases) {
            it(c.what, () => {
                const dir = writeTrussCheckout("today");
                c.breakIt(dir);
                const e = errorOf(() => {
                    const s = stack(dir);
                    planImages(s.config, s.catalog);
                });
                assert.ok(!(e instanceof ConfigError), e.message);
                assert.ok(e.message.includes(dir), `names the checkout:\n${e.message}`);
                for (const n of c.names) assert.ok(e.message.includes(n), `does not say ${JSON.stringify(n)}:\n${e.message}`);
                assert.strictEqual(e.message.split("\n").length, 1, "one message");
            });
        }

        it("a python version the checkout does not support lists the supported ones and where they come from", () => {
            const dir = writeTrussCheckout("today");
            const e = errorOf(() => stack(dir, {}, { pythonVersions: ["3.8"] })) as ConfigError;
            assert.strictEqual(e.problems.length, 1, e.message);
            assert.match(e.problems[0], /matrix\.pythonVersions\[0\]: .*SUPPORTED_PYTHON_VERSIONS in truss\/base\/constants\.py.*supported: 3\.9, 3\.10, 3\.11, 3\.12, 3\.13, 3\.14, given "3\.8"/);
        });

        it("a job type without requirements names the missing file", () => {
            const dir = writeTrussCheckout("today");
            const e = errorOf(() => stack(dir, {}, { jobTypes: ["server", "training"] })) as ConfigError;
            assert.strictEqual(e.problems.length, 1, e.message);
            assert.ok(e.problems[0].includes(`${dir}/truss/templates/training/requirements.txt does not exist`), e.message);
            assert.ok(e.problems[0].includes("job types there: server"), e.message);
        });

        it("a versionTag other than the checkout's is refused under immutableTags, naming both; allowed with immutableTags: false", () => {
            const dir = writeTrussCheckout("today");
            const e = errorOf(() => stack(dir, { versionTag: "my-change" })) as ConfigError;
            assert.strictEqual(e.problems.length, 1, e.message);
            assert.ok(e.problems[0].includes('"my-change"') && e.problems[0].includes('"v0.13.0"'), e.message);
            assert.ok(e.problems[0].includes("immutableTags: false"), e.message);
            assert.strictEqual(stack(dir, { versionTag: "my-change", immutableTags: false }).config.versionTag, "my-change");
            assert.strictEqual(stack(dir, { versionTag: "v0.13.0" }).config.versionTag, "v0.13.0");
        });

        it("live-reload images are refused when the template never reads live_reload (today's and 2023's without the include)", () => {
            for (const layout of ["today", "2023"] as TrussLayout[]) {
                const e = errorOf(() => stack(writeTrussCheckout(layout), {}, { liveReload: [false, true] })) as ConfigError;
                assert.strictEqual(e.problems.length, 1, e.message);
                assert.match(e.problems[0], /matrix\.liveReload: .*never reads live_reload, so it builds none .*; use \[false\]/);
            }
        });

        it("2023's include of truss_build_template_path without the constant Truss's script passed names the variable and where it came from", () => {
            const dir = writeTrussCheckout("2023-include");
            edit(dir, "truss/constants.py", (t) => t.replace(/^TRUSS_BUILD_DOCKERFILE_TEMPLATE_NAME = .*$/m, ""));
            const e = errorOf(() => stack(dir, {}, { jobTypes: ["server"], liveReload: [false] }));
            assert.ok(e.message.includes("docker/base_images/base_image.Dockerfile.jinja, line 8"), e.message);
            assert.ok(e.message.includes("the variable truss_build_template_path is not defined"), e.message);
            assert.ok(e.message.includes("TRUSS_BUILD_DOCKERFILE_TEMPLATE_NAME in truss/constants.py"), e.message);
        });

        it("a malformed truss key is a config problem", () => {
            const e = errorOf(() =>
                loadStack({ ...raw("x"), truss: "../truss" }, { projectDir: PROJECT, source: "Pulumi.test.yaml" }),
            ) as ConfigError;
            assert.ok(e.problems.some((p) => p.includes("truss-base-images:truss: expected an object { checkout")), e.message);
        });
    });
});
