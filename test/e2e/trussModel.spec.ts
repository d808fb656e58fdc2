// End to end, with Truss as the client: this project publishes the python 3.11 server base image
// (Truss's own requirements, on the stand-in parent) to a loopback registry the way `pulumi up`
// does (build, push to the staging tag, the RegistryTag provider writes the version tag); then
// `truss` from PyPI, in a virtualenv, makes a model image's build context for a small model of
// ours, whose base image resolves to that tag; the Docker daemon builds it, the container starts,
// and Truss's predict endpoint answers with the model's result.
//
// How the model finds our base image: Truss's own `base_image` setting in the model's
// config.yaml. A registry mirror for docker.io/baseten would be a daemon-wide setting
// (registry-mirrors needs a restart of the daemon every test and developer shares) and would be
// consulted for every docker.io pull on the machine. With `base_image`, Truss also runs its
// custom-base-image steps (apt installs, its server requirements through uv) on top, so our
// image's apt, pip, uv and python are exercised by Truss's own Dockerfile.
//
// How the image is built: `truss image build-context` (Truss's own image builder writes the
// Dockerfile and context), then the daemon. `truss image build` runs `docker buildx build`, and
// this Docker CLI has no buildx plugin; the daemon builds the same context with the host network
// it needs here (no bridge network).
import { strict as assert } from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { loadStack } from "../../src/config/definition";
import { SECRET_PRESENT } from "../../src/config/stackConfig";
import { stagingReference } from "../../src/images/naming";
import { writeContext } from "../../src/images/context";
import { CLI_PASSWORD_FROM, planPublish, registryClientFor } from "../../src/publish/publishPlan";
import { buildCommandArgs, docker, ensureDockerDaemon } from "../support/docker";
import { hosted } from "../support/dynamicProviders";
import { PROJECT_DIR } from "../support/fixtures";
import { startRegistry, TestRegistry } from "../support/registry";
import { standInParents } from "../support/realBuilds";
import { trussClient } from "../support/trussClient";
import { TRUSS_VERSION, trussWheelCheckout } from "../support/trussWheel";
import { freePort } from "../support/ports";

const run = promisify(execFile);
const PYTHON = "3.11";

const MODEL_PY = `import platform
import subprocess


class Model:
    def __init__(self, **kwargs):
        self._offset = None

    def load(self):
        self._offset = 1000

    def predict(self, model_input):
        numbers = model_input["numbers"]
        # jq comes from the config's system_packages: Truss's Dockerfile apt-installs it from Debian.
        jq = subprocess.run(["jq", "--version"], capture_output=True, text=True, check=True).stdout.strip()
        return {"sum": sum(numbers) + self._offset, "python": platform.python_version(), "jq": jq}
`;

describe(`e2e: a model built by truss ${TRUSS_VERSION} FROM the server base image this project published, with a Debian package apt-installed, serving a prediction`, function () {
    this.timeout(40 * 60_000);
    let registry: TestRegistry | undefined;
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "truss-e2e-"));
    const images: string[] = [];
    let container: string | undefined;

    after(async function () {
        this.timeout(5 * 60_000);
        if (container) await docker(["rm", "-f", container], { allowFailure: true });
        if (images.length > 0) await docker(["image", "rm", "-f", ...images], { allowFailure: true });
        await registry?.stop();
        fs.rmSync(work, { recursive: true, force: true });
    });

    it("publishes the base image, truss builds the model on it, and the predict endpoint answers", async () => {
        await ensureDockerDaemon();
        const truss = await trussClient();
        registry = await startRegistry();

        // The tag Truss itself computes for its python 3.11 CPU base image.
        const trussTag = (
            await run(truss.python, [
                "-c",
                `from truss.contexts.image_builder.util import truss_base_image_tag, TRUSS_BASE_IMAGE_VERSION_TAG as v\nprint(truss_base_image_tag("${PYTHON}", False, v))`,
            ])
        ).stdout.trim();
        const versionTag = trussTag.slice(`${PYTHON}-`.length);

        // Publish as `pulumi up` does: build and push the staging tag, then RegistryTag.
        const { config, catalog } = loadStack(
            {
                versionTag,
                registry: { server: registry.host, namespace: "baseten" },
                truss: { checkout: trussWheelCheckout() },
                matrix: { jobTypes: ["server"], pythonVersions: [PYTHON], gpu: [false], liveReload: [false] },
                builders: { mode: "local" },
                parents: await standInParents([PYTHON]),
                registryPassword: SECRET_PRESENT,
            },
            { projectDir: PROJECT_DIR, source: "e2e" },
        );
        const plan = await planPublish(config, catalog, registryClientFor(config, undefined, { passwordFrom: CLI_PASSWORD_FROM }));
        assert.equal(plan.images.length, 1);
        const [image] = plan.images;
        assert.equal(image.action, "build");
        assert.equal(image.tag, trussTag, "the published tag is the one Truss looks its base image up by");
        const staging = stagingReference(image.repository, image.contentDigest);
        await docker(buildCommandArgs(image.staged, writeContext(work, image.staged), staging));
        images.push(staging);
        await docker(["push", staging]);
        await hosted("RegistryTag").create({
            server: registry.host,
            repository: image.repository,
            tag: image.tag,
            contentDigest: image.contentDigest,
            source: staging,
            immutable: true,
        });
        const published = `${image.repository}:${image.tag}`;
        assert.equal(published, `${registry.host}/baseten/truss-server-base:${trussTag}`);

        // A model of ours, naming the published image through Truss's base_image setting.
        const modelDir = path.join(work, "model-truss");
        fs.mkdirSync(path.join(modelDir, "model"), { recursive: true });
        fs.writeFileSync(path.join(modelDir, "model", "model.py"), MODEL_PY);
        fs.writeFileSync(
            path.join(modelDir, "config.yaml"),
            [
                "model_name: truss-base-images-e2e",
                `python_version: py${PYTHON.replace(".", "")}`,
                "base_image:",
                `  image: ${published}`,
                "  python_executable_path: /usr/local/bin/python3",
                "resources:",
                "  cpu: '1'",
                "  memory: 1Gi",
                "  use_gpu: false",
                "requirements: []",
                // A Debian package, installed by Truss's own apt-get step on our image.
                "system_packages:",
                "  - jq",
                "",
            ].join("\n"),
        );
        const context = path.join(work, "model-context");
        await run(truss.cli, ["image", "build-context", context, modelDir], { env: truss.env, maxBuffer: 16 * 1024 * 1024 });
        const dockerfile = fs.readFileSync(path.join(context, "Dockerfile"), "utf8");
        assert.match(dockerfile, new RegExp(`^FROM ${published.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} AS truss_server$`, "m"));

        // The daemon pulls the published tag from the registry (the staging tag is gone first).
        await docker(["image", "rm", staging]);
        images.length = 0;
        const modelImage = `truss-base-images-test/e2e-model-${process.pid}:latest`;
        images.push(modelImage, published);
        await docker(["build", "--force-rm", "--network", "host", "-t", modelImage, context]);

        const port = await freePort();
        container = `truss-e2e-${process.pid}`;
        await docker(["run", "-d", "--name", container, "--network", "host", "-e", `INFERENCE_SERVER_PORT=${port}`, modelImage]);
        const url = `http://127.0.0.1:${port}/v1/models/model:predict`;
        const deadline = Date.now() + 180_000;
        let answer: { status: number; body: string } | undefined;
        while (Date.now() < deadline) {
            try {
                const res = await fetch(url, {
                    method: "POST",
                    headers: { "Content-Type": "application/json" },
                    body: JSON.stringify({ numbers: [1, 2, 3] }),
                    signal: AbortSignal.timeout(10_000),
                });
                answer = { status: res.status, body: await res.text() };
                if (res.status === 200) break;
            } catch {
                // not listening yet, or the model is still loading
            }
            await new Promise((r) => setTimeout(r, 1000));
        }
        const logs = await docker(["logs", container], { allowFailure: true });
        assert.ok(answer, `no answer from ${url} within 180 s; container logs:\n${logs.stdout}${logs.stderr}`);
        assert.equal(answer.status, 200, `${answer.body}\n${logs.stdout}${logs.stderr}`);
        const body = JSON.parse(answer.body) as { sum: number; python: string; jq: string };
        assert.equal(body.sum, 1006);
        assert.match(body.python, new RegExp(`^${PYTHON.replace(".", "\\.")}\\.`));
        assert.match(body.jq, /^jq-1\.\d+/, "the system package Truss apt-installed runs in the model's container");
    });
});
