// The Dockerfiles we render from a Truss checkout's template, byte for byte against what Python's
// Jinja2 renders (the renderer of Truss's own script): Debian's python3-jinja2 under /usr/bin/python3.
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { renderJinja } from "../../../src/images/jinja";
import { readTrussCheckout, renderTrussDockerfile } from "../../../src/images/trussCheckout";
import { tempDir } from "../../support/fixtures";
import { FIXTURE_PYTHONS, TrussLayout, writeTrussCheckout } from "../../support/trussCheckouts";

const PYTHON = "/usr/bin/python3";

/** Renders a template file with Jinja2's default Environment, as Truss's script does. */
function jinja2(dir: string, file: string, variables: Record<string, unknown>): string {
    const script = [
        "import json, sys",
        "from jinja2 import Environment, FileSystemLoader",
        "env = Environment(loader=FileSystemLoader(sys.argv[1]))",
        "sys.stdout.write(env.get_template(sys.argv[2]).render(**json.loads(sys.argv[3])))",
    ].join("\n");
    return execFileSync(PYTHON, ["-c", script, dir, file, JSON.stringify(variables)], { encoding: "utf8" });
}

describe("integration: rendering a Truss template matches Python's Jinja2 byte for byte", function () {
    this.timeout(60_000);

    before(function () {
        try {
            execFileSync(PYTHON, ["-c", "import jinja2"]);
        } catch {
            throw new Error(`${PYTHON} cannot import jinja2: install Debian's python3-jinja2 (apt-get install -y python3-jinja2)`);
        }
    });

    for (const layout of ["today", "2023"] as TrussLayout[]) {
        it(`the ${layout} fixture template, both branches (use_gpu true and false), every python and job type`, () => {
            const checkout = readTrussCheckout(writeTrussCheckout(layout));
            const templateDir = path.join(checkout.dir, "docker", "base_images");
            let compared = 0;
            for (const jobType of checkout.jobTypes.keys()) {
                for (const python of FIXTURE_PYTHONS[layout]) {
                    for (const useGpu of [true, false]) {
                        const ours = renderTrussDockerfile(checkout, { jobType, python, accelerator: useGpu ? "gpu" : "cpu" });
                        const theirs = jinja2(templateDir, "base_image.Dockerfile.jinja", { use_gpu: useGpu, python_version: python, job_type: jobType });
                        assert.strictEqual(ours, theirs, `${jobType} ${python} use_gpu=${useGpu}`);
                        compared++;
                    }
                }
            }
            assert.ok(compared >= 8);
        });
    }

    it("whitespace control, nested ifs, comparisons, undefined variables, CRLF line endings and the trailing newline", () => {
        const dir = tempDir("jinja");
        const template = [
            "{# a comment #}",
            "{%- if use_gpu %}",
            "FROM gpu:{{ python_version }}",
            "  {%- if python_version == '3.9' %} nine{% else %} other{% endif %}",
            "{% else -%}",
            "FROM cpu:{{python_version}}  ",
            "{%- endif %}",
            "ENV UNDEFINED='{{ not_given }}'",
            "{% for p in ['a', 'b'] %}RUN echo {{ p }} {{ loop.index }}",
            "{% endfor %}",
            "{{ 'x' ~ job_type | upper }}",
            "",
            "",
        ].join("\r\n");
        fs.writeFileSync(path.join(dir, "t.jinja"), template);
        for (const useGpu of [true, false]) {
            for (const python of ["3.9", "3.12"]) {
                const vars = { use_gpu: useGpu, python_version: python, job_type: "server" };
                assert.strictEqual(renderJinja(template, vars), jinja2(dir, "t.jinja", vars), `use_gpu=${useGpu} ${python}`);
            }
        }
    });
});
