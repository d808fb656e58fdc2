// Truss's own files, from the `truss` wheel on PyPI at a pinned version, laid out as a checkout:
// its server and control requirements, its constants (the python versions), its base image
// version tag, and a base image template of ours with the same CPU steps as Truss's own
// (docker/base_images/base_image.Dockerfile.jinja is not in the wheel). The wheel is cached per
// machine, outside the clone.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { cacheRoot } from "./standIns";
import { tempDir } from "./fixtures";

/** The Truss release the tests take their files from, and install as the client (test/e2e). */
export const TRUSS_VERSION = "0.18.36";

/** The files of the wheel the checkout holds. */
const FROM_WHEEL = [
    "truss/templates/server/requirements.txt",
    "truss/templates/control/requirements.txt",
    "truss/base/constants.py",
    "truss/contexts/image_builder/util.py",
    "truss/templates/base.Dockerfile.jinja",
];

/**
 * The uv Truss's model Dockerfile installs when its base image has none: it downloads it from
 * astral.sh, which machines that reach only the package registries cannot. Our base images
 * install the same version from PyPI, so the model build finds it.
 */
export function trussUvVersion(baseDockerfileTemplate: string): string {
    const v = /set UV_VERSION = "([^"]+)"/.exec(baseDockerfileTemplate)?.[1];
    if (!v) throw new Error("truss/templates/base.Dockerfile.jinja no longer sets UV_VERSION: read how this Truss installs uv");
    return v;
}

/**
 * Truss's base image template, CPU branch as Truss has it (FROM python:<X>, pip upgraded, the
 * server requirements installed with pip), plus uv from PyPI (see trussUvVersion). The GPU
 * branch is there because the project renders both; nothing here builds it.
 */
function template(uvVersion: string): string {
    return `{% if use_gpu %}
FROM nvidia/cuda:12.8.1-base-ubuntu22.04
ENV PYTHONUNBUFFERED="True"
ENV DEBIAN_FRONTEND="noninteractive"
RUN apt update && apt install -y bash build-essential git curl ca-certificates software-properties-common \\
    && add-apt-repository -y ppa:deadsnakes/ppa && apt update -y \\
    && apt install -y python{{python_version}} python{{python_version}}-venv python{{python_version}}-dev \\
    && rm -rf /var/lib/apt/lists
RUN ln -sf /usr/bin/python{{python_version}} /usr/bin/python3 && curl https://bootstrap.pypa.io/get-pip.py -o get-pip.py && python3 get-pip.py
{% else %}
FROM python:{{python_version}}
RUN apt update && apt install -y

# Allow statements and log messages to immediately appear in the Knative logs
ENV PYTHONUNBUFFERED="True"
{% endif %}

RUN pip install --no-cache-dir --upgrade pip \\
    && rm -rf /root/.cache/pip

COPY ./requirements.txt requirements.txt
RUN pip install --no-cache-dir -r requirements.txt \\
    && rm -rf /root/.cache/pip

RUN pip install --no-cache-dir uv==${uvVersion} \\
    && rm -rf /root/.cache/pip
`;
}

/** The cached wheel, downloaded with pip the first time. */
export function trussWheel(): string {
    const dir = path.join(cacheRoot(), "truss");
    const wheel = path.join(dir, `truss-${TRUSS_VERSION}-py3-none-any.whl`);
    if (fs.existsSync(wheel)) return wheel;
    fs.mkdirSync(dir, { recursive: true });
    try {
        execFileSync("python3", ["-m", "pip", "download", "--quiet", "--no-deps", `truss==${TRUSS_VERSION}`, "-d", dir], {
            stdio: ["ignore", "pipe", "pipe"],
        });
    } catch (e) {
        const err = e as { stderr?: Buffer; message: string };
        throw new Error(`pip download --no-deps truss==${TRUSS_VERSION} failed: ${err.stderr?.toString() || err.message}`);
    }
    if (!fs.existsSync(wheel)) throw new Error(`pip download truss==${TRUSS_VERSION} wrote no ${path.basename(wheel)} in ${dir}`);
    return wheel;
}

/** Reads files out of a wheel (a zip) with Python's zipfile. */
function unzip(wheel: string, names: readonly string[]): Map<string, string> {
    const script =
        "import json, sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(json.dumps({n: z.read(n).decode() for n in sys.argv[2:]}))";
    const out = execFileSync("python3", ["-c", script, wheel, ...names], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    return new Map(Object.entries(JSON.parse(out) as Record<string, string>));
}

let checkout: string | undefined;

/** A checkout laid out from the pinned wheel (once per test process), and its path. */
export function trussWheelCheckout(): string {
    if (checkout) return checkout;
    const files = unzip(trussWheel(), FROM_WHEEL);
    const dir = path.join(tempDir("truss-wheel"), "truss");
    const write = (rel: string, text: string): void => {
        const file = path.join(dir, ...rel.split("/"));
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, text);
    };
    for (const [rel, text] of files) if (rel !== "truss/templates/base.Dockerfile.jinja") write(rel, text);
    write("docker/base_images/base_image.Dockerfile.jinja", template(trussUvVersion(files.get("truss/templates/base.Dockerfile.jinja")!)));
    write("pyproject.toml", `[project]\nname = "truss"\nversion = "${TRUSS_VERSION}"\n`);
    checkout = dir;
    return dir;
}
