// `truss` from PyPI, at the version the tests take Truss's files from, in a virtualenv cached per
// machine outside the clone (made with python3 -m venv and pip the first time).
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { cacheRoot } from "./standIns";
import { TRUSS_VERSION } from "./trussWheel";

const run = promisify(execFile);

export interface TrussClient {
    /** The virtualenv's python. */
    readonly python: string;
    /** The `truss` command. */
    readonly cli: string;
    /** The environment to run it in (no telemetry prompts, the virtualenv first on PATH). */
    readonly env: NodeJS.ProcessEnv;
}

let pending: Promise<TrussClient> | undefined;

export function trussClient(): Promise<TrussClient> {
    pending ??= ensure().catch((e) => {
        pending = undefined;
        throw e;
    });
    return pending;
}

async function ensure(): Promise<TrussClient> {
    const venv = path.join(cacheRoot(), `truss-venv-${TRUSS_VERSION}`);
    const bin = path.join(venv, "bin");
    // Written last: a virtualenv without it was left half-made and is made again.
    const done = path.join(venv, ".installed");
    if (!fs.existsSync(done)) {
        fs.rmSync(venv, { recursive: true, force: true });
        try {
            await run("python3", ["-m", "venv", venv]);
            await run(path.join(bin, "python"), ["-m", "pip", "install", "--quiet", `truss==${TRUSS_VERSION}`], {
                maxBuffer: 64 * 1024 * 1024,
            });
        } catch (e) {
            const err = e as { stderr?: string; message: string };
            throw new Error(`could not install truss==${TRUSS_VERSION} into ${venv}: ${err.stderr || err.message}`);
        }
        fs.writeFileSync(done, `truss==${TRUSS_VERSION}\n`);
    }
    return {
        python: path.join(bin, "python"),
        cli: path.join(bin, "truss"),
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, VIRTUAL_ENV: venv, TRUSS_TELEMETRY: "0" },
    };
}
