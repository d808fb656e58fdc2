// The Dockerfiles we render from a Truss checkout's template, byte for byte against what Python's
// Jinja2 renders (the renderer of Truss's own script): Debian's python3-jinja2 under /usr/bin/python3.
// Fixture templates of every layout, hand-written edge cases, and random templates built from every
// construct the renderer knows.
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as fc from "fast-check";
import { renderJinja } from "../../../src/images/jinja";
import { readTrussCheckout, TEMPLATE_FOLDERS } from "../../../src/images/trussCheckout";
import { renderTrussDockerfile } from "../../../src/images/trussTemplate";
import { tempDir } from "../../support/fixtures";
import { FIXTURE_PYTHONS, TrussLayout, writeTrussCheckout } from "../../support/trussCheckouts";

const PYTHON = "/usr/bin/python3";

/**
 * Renders templates with Jinja2's default Environment and a FileSystemLoader over `folders`, as
 * Truss's script does: one python process for many renderings ([file, variables] -> text).
 */
function jinja2(folders: string[], jobs: [string, Record<string, unknown>][]): string[] {
    const script = [
        "import json, sys",
        "from jinja2 import Environment, FileSystemLoader",
        "folders, jobs = json.loads(sys.stdin.read())",
        "env = Environment(loader=FileSystemLoader(folders))",
        "sys.stdout.write(json.dumps([env.get_template(f).render(**v) for f, v in jobs]))",
    ].join("\n");
    return JSON.parse(execFileSync(PYTHON, ["-c", script], { input: JSON.stringify([folders, jobs]), encoding: "utf8" })) as string[];
}

describe("integration: rendering a Truss template matches Python's Jinja2 byte for byte", function () {
    this.timeout(120_000);

    before(function () {
        try {
            execFileSync(PYTHON, ["-c", "import jinja2"]);
        } catch {
            throw new Error(`${PYTHON} cannot import jinja2: install Debian's python3-jinja2 (apt-get install -y python3-jinja2)`);
        }
    });

    for (const layout of ["today", "2023", "2023-include"] as TrussLayout[]) {
        it(`the ${layout} fixture template, both branches (use_gpu true and false), live_reload true and false, every python and job type`, () => {
            const checkout = readTrussCheckout(writeTrussCheckout(layout));
            const ours: string[] = [];
            const jobs: [string, Record<string, unknown>][] = [];
            for (const jobType of checkout.jobTypes.keys()) {
                for (const python of FIXTURE_PYTHONS[layout]) {
                    for (const useGpu of [true, false]) {
                        for (const liveReload of [true, false]) {
                            ours.push(renderTrussDockerfile(checkout, { jobType, python, accelerator: useGpu ? "gpu" : "cpu", liveReload }));
                            const vars: Record<string, unknown> = { use_gpu: useGpu, python_version: python, job_type: jobType, live_reload: liveReload };
                            if (layout === "2023-include") vars.truss_build_template_path = "_truss_build.Dockerfile.jinja";
                            jobs.push(["base_image.Dockerfile.jinja", vars]);
                        }
                    }
                }
            }
            const theirs = jinja2(
                TEMPLATE_FOLDERS.map((f) => path.join(checkout.dir, ...f.split("/"))),
                jobs,
            );
            ours.forEach((text, i) => assert.strictEqual(text, theirs[i], JSON.stringify(jobs[i][1])));
            assert.ok(ours.length >= 16);
            if (layout === "2023-include") assert.ok(ours.some((t) => t.includes("COPY ./control /control")));
        });
    }

    it("whitespace control, nested ifs, comparisons, raw, filters, tests, set, loops, CRLF line endings and the trailing newline", () => {
        const dir = tempDir("jinja");
        const template = [
            "{# a comment #}",
            "{%- if use_gpu %}",
            "FROM gpu:{{ python_version }}",
            "  {%- if python_version == '3.9' %} nine{% elif python_version < '3.2' %} old{% else %} other{% endif %}",
            "{% else -%}",
            "FROM cpu:{{python_version}}  ",
            "{%- endif %}",
            "{% set who = job_type ~ '-' ~ (\"gpu\" if use_gpu else 'cpu') %}ENV WHO={{ who | upper }} {{ who|replace('-', '_', 1) }}",
            "{% for p in ['a', 'b'] %}RUN echo {{ p }} {{ loop.index }}/{{ loop.length }}{{ ' last' if loop.last else '' }}",
            "{% else %}none{% endfor %}",
            "{% for c in python_version %}[{{ c }}]{% endfor %}{% for x in [] %}x{% else %} empty{% endfor %}",
            "{{ 'x' ~ job_type | upper }} {{ not_given | default('dflt') }} {{ not_given is defined }} {{ none is none }} {{ '  t  ' | trim }}",
            "{{ 'ab' in job_type }} {{ 'er' in job_type }} {{ 1 < 2 <= 2 }} {{ use_gpu and 'y' or 'n' }} {{ [1, 2] == [1, 2] }} {{ 'a\\tb\\x41\\u00e9' }}",
            "{% raw %}{{ not rendered }}{% endraw %}   {#- trimmed -#}   x {{- ' y ' -}} z",
            "{%+ if true +%}plus{% endif %}",
            "",
            "",
        ].join("\r\n");
        fs.writeFileSync(path.join(dir, "t.jinja"), template);
        const jobs: [string, Record<string, unknown>][] = [];
        for (const useGpu of [true, false]) {
            for (const python of ["3.9", "3.12", "3.1"]) jobs.push(["t.jinja", { use_gpu: useGpu, python_version: python, job_type: "server" }]);
        }
        const theirs = jinja2([dir], jobs);
        jobs.forEach(([, vars], i) => assert.strictEqual(renderJinja(template, vars), theirs[i], JSON.stringify(vars)));
    });

    it("random templates made of every construct the renderer knows render as Jinja2 renders them (property test, 500 templates)", () => {
        const name = fc.constantFrom("use_gpu", "python_version", "job_type", "flag", "items", "empty");
        const str = fc.stringMatching(/^[a-z .:\-\n]{0,6}$/);
        const literal = fc.oneof(
            str.map((s) => JSON.stringify(s)),
            fc.integer({ min: 0, max: 20 }).map(String),
            fc.constantFrom("true", "false", "none", "True", "[]", "['a', 'b']"),
        );
        const expr: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
            e: fc.oneof(
                { depthSize: "small", withCrossShrink: true },
                name,
                literal,
                fc.tuple(tie("e"), fc.constantFrom("==", "!=", "and", "or", "in", "not in"), tie("e")).map(([a, op, b]) => `(${a} ${op} ${b})`),
                tie("e").map((e) => `(not ${e})`),
                fc.tuple(tie("e"), tie("e"), tie("e")).map(([a, b, c]) => `(${a} if ${b} else ${c})`),
                fc.tuple(name, fc.constantFrom("defined", "undefined", "none", "not none")).map(([n, t]) => `(${n} is ${t})`),
                fc.tuple(name, fc.constantFrom("upper", "lower", "trim", "replace('e', 'E')", "replace('', '-', 2)")).map(([n, f]) => `(${n}|string_only|${f})`),
            ),
        })).e;
        const text = fc.stringMatching(/^[a-z \n\t{}%#-]{0,8}$/).filter((t) => !/\{[{%#]|[}%#]\}/.test(t) && !t.endsWith("{"));
        const ws = fc.constantFrom("", "-", "+");
        const node: fc.Arbitrary<string> = fc.letrec<{ n: string }>((tie) => ({
            n: fc.oneof(
                { depthSize: "small", withCrossShrink: true },
                text,
                fc.tuple(fc.constantFrom("", "-"), name, fc.constantFrom("", "-")).map(([a, n, b]) => `{{${a} ${n} ${b}}}`),
                fc.tuple(fc.constantFrom("", "-"), fc.constantFrom("", "-")).map(([a, b]) => `{#${a} c ${b}#}`),
                fc.tuple(ws, expr, ws, fc.array(tie("n"), { maxLength: 3 }), fc.array(tie("n"), { maxLength: 2 })).map(
                    ([a, e, b, then, otherwise]) => `{%${a} if ${e} ${b}%}${then.join("")}{% else %}${otherwise.join("")}{% endif %}`,
                ),
                fc.tuple(fc.constantFrom("items", "empty", "python_version", "['x', 'y', 'z']"), fc.array(tie("n"), { maxLength: 2 })).map(
                    ([it, body]) => `{% for v in ${it} %}{{ v }}:{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}${body.join("")}{% else %}E{% endfor %}`,
                ),
                fc.tuple(expr, fc.array(tie("n"), { maxLength: 2 })).map(([e, rest]) => `{% set s = ${e} %}${rest.join("")}{{ s is none }}`),
            ),
        })).n;
        const template = fc.tuple(fc.array(node, { maxLength: 6 }), fc.constantFrom("", "\n", "\r\n", "\n\n")).map(([ns, end]) => ns.join("") + end);
        const vars = fc.record({
            use_gpu: fc.boolean(),
            python_version: fc.constantFrom("3.9", "3.10", ""),
            job_type: fc.constantFrom("server", "training"),
            flag: fc.constantFrom(true, false, 0, 1, "", "x"),
            items: fc.constantFrom(["a"], ["a", "b", "c"]),
            empty: fc.constant([] as string[]),
        });
        // Filters apply to strings only (booleans and lists print differently after `upper`); the
        // marker is dropped before rendering, and the names it follows are all strings here.
        const samples = fc.sample(fc.tuple(template, vars), { numRuns: 500, seed: 18 });
        const dir = tempDir("jinja-random");
        const jobs: [string, Record<string, unknown>][] = [];
        const ours: (string | Error)[] = [];
        samples.forEach(([t, v], i) => {
            const source = t.replace(/\((\w+)\|string_only\|/g, "(($1 ~ '')|");
            fs.writeFileSync(path.join(dir, `${i}.jinja`), source);
            jobs.push([`${i}.jinja`, v]);
            try {
                ours.push(renderJinja(source, v));
            } catch (e) {
                ours.push(e as Error);
            }
        });
        const script = [
            "import json, sys",
            "from jinja2 import Environment, FileSystemLoader",
            "folder, jobs = json.loads(sys.stdin.read())",
            "env = Environment(loader=FileSystemLoader(folder))",
            "out = []",
            "for f, v in jobs:",
            "    try: out.append(env.get_template(f).render(**v))",
            "    except Exception as e: out.append({'error': type(e).__name__ + ': ' + str(e)})",
            "sys.stdout.write(json.dumps(out))",
        ].join("\n");
        const theirs = JSON.parse(execFileSync(PYTHON, ["-c", script], { input: JSON.stringify([dir, jobs]), encoding: "utf8" })) as (string | { error: string })[];
        let compared = 0;
        ours.forEach((mine, i) => {
            const source = fs.readFileSync(path.join(dir, `${i}.jinja`), "utf8");
            const theirsI = theirs[i];
            if (mine instanceof Error) {
                // Where Jinja2 prints something and we refuse, it is an undefined variable
                // (Jinja2 prints nothing for it) or an operation Python refuses too.
                assert.ok(
                    typeof theirsI !== "string" || /is not defined|cannot order|"in" needs|cannot join|cannot print/.test(mine.message),
                    `template ${JSON.stringify(source)} with ${JSON.stringify(jobs[i][1])}: we refused (${mine.message}) what Jinja2 renders as ${JSON.stringify(theirsI)}`,
                );
                return;
            }
            assert.strictEqual(typeof theirsI, "string", `template ${JSON.stringify(source)}: Jinja2 failed (${JSON.stringify(theirsI)}) where we rendered ${JSON.stringify(mine)}`);
            assert.strictEqual(mine, theirsI, `template ${JSON.stringify(source)} with ${JSON.stringify(jobs[i][1])}`);
            compared++;
        });
        assert.ok(compared >= 300, `only ${compared} of ${ours.length} random templates rendered on both sides`);
    });
});
