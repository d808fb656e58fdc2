// Truss checkouts for the tests, written from scratch in the two layouts Truss has had:
// - "today": server images only; python versions in truss/base/constants.py (a list); the
//   version in pyproject.toml's [project] table;
// - "2023": server and training images; python versions in bin/generate_base_images.py (a set);
//   the version in [tool.poetry]; a template that also reads `job_type`.
// - "2023-include": the same, as in spring 2023: the template `{% include truss_build_template_path %}`
//   (the name in truss/constants.py, the included template in truss/templates), which builds
//   live-reload variants with `{% if live_reload %}` around `COPY ./control`.
// Only the files this project reads are there, with contents of our own that have the same
// shape as Truss's (a Jinja template with a GPU and a CPU branch, requirements with comments
// and pip options, Python constants).
import * as fs from "fs";
import * as path from "path";
import { tempDir } from "./fixtures";

export type TrussLayout = "today" | "2023" | "2023-include";

/** The version tag each fixture layout declares. */
export const FIXTURE_VERSION_TAG: Readonly<Record<TrussLayout, string>> = {
    today: "v0.13.0",
    "2023": "v0.4.8rc3",
    "2023-include": "v0.3.4",
};
/** The python versions each fixture layout supports. */
export const FIXTURE_PYTHONS: Readonly<Record<TrussLayout, readonly string[]>> = {
    today: ["3.9", "3.10", "3.11", "3.12", "3.13", "3.14"],
    "2023": ["3.8", "3.9", "3.10", "3.11"],
    "2023-include": ["3.8", "3.9"],
};

const TEMPLATE_TODAY = `{% if use_gpu %}
FROM nvidia/cuda:12.8.1-base-ubuntu22.04
ENV CUDNN_VERSION="8.9.7.29"
ENV CUDA="12.8"
ENV LD_LIBRARY_PATH="/usr/local/cuda/extras/CUPTI/lib64:$LD_LIBRARY_PATH"

# CUDA user-space libraries
RUN apt-get update && apt-get install -y --no-install-recommends \\
        libcublas-12-8 \\
        libcudnn8=\${CUDNN_VERSION}-1+cuda12.2 \\
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED="True"
RUN apt-get update && apt-get install -y git curl build-essential \\
    && apt-get install -y python{{python_version}} python{{python_version}}-venv python{{python_version}}-dev \\
    && ln -sf /usr/bin/python{{python_version}} /usr/bin/python3

{% else %}
FROM python:{{python_version}}

ENV PYTHONUNBUFFERED="True"
{% endif %}


RUN pip install --no-cache-dir --upgrade pip
COPY ./requirements.txt requirements.txt
RUN pip install --no-cache-dir -r requirements.txt
`;

const TEMPLATE_2023 = `{%- if use_gpu %}
FROM nvidia/cuda:12.2.2-base-ubuntu20.04
ENV CUDA=12.2
RUN apt-get update && apt-get install -y python{{ python_version }} python{{ python_version }}-distutils
{%- else %}
FROM python:{{ python_version }}
{%- endif %}
ENV PYTHONUNBUFFERED True
{% if job_type == "training" %}
# training images: {{ job_type }} for python {{ python_version }}
{% endif %}
COPY ./requirements.txt requirements.txt
RUN pip install --no-cache-dir -r requirements.txt
`;

const TEMPLATE_2023_INCLUDE = `{% if use_gpu %}
    FROM nvidia/cuda:11.2.1-base-ubuntu20.04
    ENV CUDA=11.2
{% else %}
    FROM python:{{python_version}}
{% endif %}

{% include truss_build_template_path %}
`;

const BUILD_TEMPLATE_2023 = `{% if use_gpu %}
    ENV PYTHONUNBUFFERED True
    RUN apt update && apt install -y python{{python_version}} python{{python_version}}-venv && \\
        ln -sf /usr/bin/python{{python_version}} /usr/bin/python3
{% else %}
    ENV PYTHONUNBUFFERED True
{% endif %}

COPY ./requirements.txt requirements.txt
RUN pip install --no-cache-dir -r requirements.txt

{% if live_reload %}
COPY ./control /control
RUN python3 -m venv /control/.env \\
    && /control/.env/bin/pip3 install -r /control/requirements.txt
{% endif %}
`;

function files(layout: TrussLayout): Record<string, string> {
    const tag = FIXTURE_VERSION_TAG[layout];
    const pythons = FIXTURE_PYTHONS[layout].map((v) => `"${v}"`).join(", ");
    const control = {
        "truss/templates/control/requirements.txt": "dataclasses-json==0.5.7\ntenacity>=8.1.0\n",
        "truss/templates/control/control/server.py": "def main():\n    return 0\n",
    };
    if (layout === "today") {
        return {
            "docker/base_images/base_image.Dockerfile.jinja": TEMPLATE_TODAY,
            "truss/contexts/image_builder/util.py": `from pathlib import Path\n\n# Bumped when the base images change.\nTRUSS_BASE_IMAGE_VERSION_TAG = "${tag}"\n\n\ndef helper() -> None:\n    pass\n`,
            "truss/base/constants.py": `import pathlib\n\nSUPPORTED_PYTHON_VERSIONS = [${pythons}]\n\nOTHER_CONSTANT = 1\n`,
            "bin/generate_base_images.py": "from truss.base.constants import SUPPORTED_PYTHON_VERSIONS\n",
            "truss/templates/server/requirements.txt":
                "# server dependencies\n-i https://pypi.org/simple\n\naiofiles>=24.1.0\nnumpy>=1.23.5,<2.0  # pinned below 2\npyyaml>=6.0.0\npython-json-logger>=2.0.2\n",
            ...control,
            "pyproject.toml": `[project]\nname = "truss"\nversion = "0.18.0"\n\n[tool.other]\nversion = "9.9.9"\n`,
        };
    }
    if (layout === "2023-include") {
        return {
            "docker/base_images/base_image.Dockerfile.jinja": TEMPLATE_2023_INCLUDE,
            "truss/templates/_truss_build.Dockerfile.jinja": BUILD_TEMPLATE_2023,
            "truss/constants.py": `import pathlib\n\nTRUSS_BUILD_DOCKERFILE_TEMPLATE_NAME = "_truss_build.Dockerfile.jinja"\nSERVER_DOCKERFILE_TEMPLATE_NAME = "server.Dockerfile.jinja"\n`,
            "truss/contexts/image_builder/util.py": `TRUSS_BASE_IMAGE_VERSION_TAG = "${tag}"\n`,
            "bin/generate_base_images.py": `from truss.constants import TRUSS_BUILD_DOCKERFILE_TEMPLATE_NAME\n\nPYTHON_VERSIONS = {\n    ${pythons},\n}\n`,
            "truss/templates/server/requirements.txt": "msgpack==1.0.2\npyyaml==6.0.0\n",
            "truss/templates/training/requirements.txt": "PyYAML==6.0\n",
            ...control,
            "pyproject.toml": `[tool.poetry]\nname = "truss"\nversion = "0.4.4"\n`,
        };
    }
    return {
        "docker/base_images/base_image.Dockerfile.jinja": TEMPLATE_2023,
        "truss/contexts/image_builder/util.py": `TRUSS_BASE_IMAGE_VERSION_TAG = '${tag}'\n`,
        "bin/generate_base_images.py": `import sys\n\nPYTHON_VERSIONS = {${pythons}}\n\n\ndef main():\n    pass\n`,
        "truss/templates/server/requirements.txt": "-i https://pypi.org/simple\n\nmsgpack==1.0.2\npyyaml==6.0.0\n",
        "truss/templates/training/requirements.txt": "PyYAML==6.0\n",
        ...control,
        "pyproject.toml": `[tool.poetry]\nname = "truss"\nversion = "0.4.8rc3"\n`,
    };
}

/** Writes a fresh fixture checkout of the layout into a temporary folder and returns its path. */
export function writeTrussCheckout(layout: TrussLayout = "today"): string {
    const dir = path.join(tempDir(`truss-${layout}`), "truss");
    for (const [rel, text] of Object.entries(files(layout))) {
        const file = path.join(dir, ...rel.split("/"));
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, text);
    }
    return dir;
}

const shared = new Map<TrussLayout, string>();
/** One fixture checkout per layout for the whole test process (for tests that do not edit it). */
export function fixtureCheckout(layout: TrussLayout = "today"): string {
    let dir = shared.get(layout);
    if (dir === undefined) shared.set(layout, (dir = writeTrussCheckout(layout)));
    return dir;
}
