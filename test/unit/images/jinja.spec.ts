// The template renderer refuses everything but the constructs a base-image template needs: each
// way a template could reach the process, its environment, the file system or a prototype is one
// TemplateError naming the file, the line and the construct, before any output. (That what it
// renders equals Jinja2 is test/integration/images/jinja.spec.ts, against Python's Jinja2.)
import * as assert from "assert";
import { renderJinja, renderTemplate, TemplateError } from "../../../src/images/jinja";

const FILE = "docker/base_images/base_image.Dockerfile.jinja";
const MARKER = "truss-base-images-test-env-marker";
const VARIABLES = { use_gpu: true, python_version: "3.9", job_type: "server", live_reload: false };

function refusal(source: string, include?: (name: string) => { file: string; source: string } | undefined): TemplateError {
    try {
        renderTemplate({ file: FILE, source, variables: VARIABLES, include });
    } catch (e) {
        if (e instanceof TemplateError) return e;
        throw e;
    }
    throw new assert.AssertionError({ message: `rendered ${JSON.stringify(source)} instead of refusing it` });
}

describe("the template renderer reaches nothing", () => {
    before(() => (process.env.TRUSS_TEST_MARKER = MARKER));
    after(() => delete process.env.TRUSS_TEST_MARKER);

    const payloads: [string, string, string][] = [
        // [what, template, what the message must name]
        ["the constructor of a global (the nunjucks escape)", '{{ range.constructor("return process.env.TRUSS_TEST_MARKER")() }}', '".constructor" is not allowed'],
        ["a constructor chain from a string variable", '{{ job_type.constructor.constructor("return process")().env }}', '".constructor" is not allowed'],
        ["a constructor chain from a string literal", "{{ ''.constructor }}", '".constructor" is not allowed'],
        ["__proto__", "{{ job_type.__proto__ }}", '".__proto__" is not allowed'],
        ["prototype", "{{ use_gpu.prototype }}", '".prototype" is not allowed'],
        ["Jinja2's classic escape through __class__ and subscripts", "{{ ''.__class__.__mro__[1].__subclasses__() }}", '".__class__" is not allowed'],
        ["globals of a Jinja2 global", "{{ cycler.__init__.__globals__.os }}", '".__init__" is not allowed'],
        ["an item lookup of constructor", '{{ job_type["constructor"] }}', 'the item lookup "[...]" is not allowed'],
        ["a call of a global", "{{ lipsum() }}", "a call is not allowed"],
        ["a call in a for loop", "{% for i in range(3) %}{{ i }}{% endfor %}", "a call is not allowed"],
        ["a call after a filter", "{{ job_type | upper() () }}", "a call is not allowed"],
        ["the attr filter", '{{ job_type | attr("constructor") }}', 'the filter "attr" is not allowed'],
        ["the map filter", '{{ [job_type] | map("constructor") }}', 'the filter "map" is not allowed'],
        ["a constructor through set", '{% set c = range.constructor %}{{ c("return 1")() }}', '".constructor" is not allowed'],
        ["a constructor through with", '{% with c = range.constructor %}{{ c }}{% endwith %}', "the tag {% with %} is not allowed"],
        ["set of an attribute", "{% set job_type.constructor = 1 %}", "may only assign a variable, not an attribute"],
        ["a loop attribute that is a method", '{% for i in [1] %}{{ loop.cycle("a") }}{% endfor %}', '".cycle" is not allowed'],
        ["a loop's constructor", "{% for i in [1] %}{{ loop.constructor }}{% endfor %}", '".constructor" is not allowed'],
        ["an unknown test", "{{ job_type is callable }}", 'the test "is callable" is not allowed'],
        ["macro", "{% macro m() %}x{% endmacro %}", "the tag {% macro %} is not allowed"],
        ["import", '{% import "os" as os %}', "the tag {% import %} is not allowed"],
        ["extends", '{% extends "/etc/passwd" %}', "the tag {% extends %} is not allowed"],
        ["a filter block", "{% filter upper %}x{% endfilter %}", "the tag {% filter %} is not allowed"],
        ["arithmetic", "{{ 1 + 2 }}", 'the arithmetic operator "+" is not supported'],
        ["an undefined variable", "FROM python:{{ python_verison }}", "the variable python_verison is not defined"],
    ];
    for (const [what, source, names] of payloads) {
        it(`refuses ${what}: one error naming the file, line and construct`, () => {
            const e = refusal(`FROM python:3.9\n${source}\n`);
            assert.ok(e.message.startsWith(`${FILE}, line 2: `), e.message);
            assert.ok(e.message.includes(names), `does not say ${JSON.stringify(names)}:\n${e.message}`);
            assert.strictEqual(e.message.split("\n").length, 1, e.message);
            assert.ok(!e.message.includes(MARKER), "nothing of the environment reaches the message");
        });
    }

    it("refuses a forbidden construct in a branch that is not taken (the whole template is checked before any output)", () => {
        const e = refusal("{% if false %}{{ range.constructor('return 1')() }}{% endif %}");
        assert.match(e.message, /line 1: .*"\.constructor" is not allowed/);
    });

    const includes: [string, string][] = [
        ["an absolute path", '{% include "/etc/passwd" %}'],
        ["a path with ..", '{% include "../../../etc/passwd" %}'],
        ["a path with .. in the middle", '{% include "control/../../../x" %}'],
        ["a path with backslashes", '{% include "..\\\\x" %}'],
        ["a path built with set", '{% set p = ".." ~ "/" ~ "secret" %}{% include p %}'],
    ];
    for (const [what, source] of includes) {
        it(`refuses an include of ${what}, without asking for the file`, () => {
            const asked: string[] = [];
            const e = refusal(source, (name) => {
                asked.push(name);
                return undefined;
            });
            assert.match(e.message, /is not allowed: an included template is named by a relative path in the template folders/);
            assert.deepStrictEqual(asked, []);
        });
    }

    it("an include finds its template through the caller, which is the only way to a file; the included text sees the same variables", () => {
        const r = renderTemplate({
            file: FILE,
            source: "A{% include name %}B\n",
            variables: { ...VARIABLES, name: "inc.jinja" },
            include: (n) => (n === "inc.jinja" ? { file: "truss/templates/inc.jinja", source: "[{{ live_reload }} {{ job_type }}]\n" } : undefined),
        });
        assert.strictEqual(r.text, "A[False server]B");
        assert.deepStrictEqual([...r.read].sort(), ["job_type", "live_reload", "name"]);
    });

    it("an error inside an included template names that template", () => {
        const e = refusal('{% include "inc.jinja" %}', () => ({ file: "truss/templates/inc.jinja", source: "ok\n{{ x.constructor }}" }));
        assert.ok(e.message.startsWith("truss/templates/inc.jinja, line 2: "), e.message);
    });

    it("an include of itself stops at a fixed depth", () => {
        const e = refusal('{% include "self.jinja" %}', () => ({ file: "self.jinja", source: '{% include "self.jinja" %}' }));
        assert.match(e.message, /nests includes deeper than 10/);
    });

    it("an include without a resolver is refused", () => {
        assert.throws(() => renderJinja('{% include "x" %}', {}), /this template may include nothing/);
    });

    it("values a template cannot see (objects, functions) are refused when given", () => {
        assert.throws(() => renderJinja("{{ f }}", { f: () => 1 }), /the variable f is given a function, which a template cannot see/);
        assert.throws(() => renderJinja("{{ o }}", { o: { a: 1 } }), /the variable o is given an object/);
    });

    const bounds: [string, string, RegExp][] = [
        ["brackets nest at most 50 deep", `{{ ${"(".repeat(60)}1${")".repeat(60)} }}`, /brackets nest deeper than 50/],
        ["\"not\"s nest at most 50 deep", `{{ ${"not ".repeat(60)}true }}`, /"not"s nest deeper than 50/],
        ["inline ifs nest at most 50 deep", `{{ 1${" if true else 1".repeat(60)} }}`, /inline ifs nest deeper than 50/],
        ["blocks nest at most 50 deep", `${"{% if true %}".repeat(60)}x${"{% endif %}".repeat(60)}`, /blocks nest deeper than 50/],
        ["all for loops together run at most 100,000 times", `{% for a in "${"x".repeat(400)}" %}{% for b in "${"y".repeat(400)}" %}.{% endfor %}{% endfor %}`, /for loops run more than 100000 times in all/],
        ["a rendering is at most 16 MiB", `{% for a in "${"x".repeat(100)}" %}${"z".repeat(200_000)}{% endfor %}`, /the rendering is larger than 16777216 characters/],
    ];
    for (const [what, source, message] of bounds) {
        it(`a template cannot exhaust the stack, the time or the memory of the process: ${what}`, () => {
            assert.match(refusal(source).message, message);
        });
    }

    it("says which given variables it read, in branches taken only", () => {
        const r = renderTemplate({ file: FILE, source: "{% if use_gpu %}{{ python_version }}{% else %}{{ job_type }}{% endif %}", variables: VARIABLES });
        assert.deepStrictEqual([...r.read].sort(), ["python_version", "use_gpu"]);
    });
});
