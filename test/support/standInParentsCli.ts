// npm run stand-in-parents -- --registry <host:port> [--python 3.11 ...]: makes the stand-in
// parents (see standIns.ts) and pushes them to <registry>/library/python:<X>, printing each
// reference with its digest. A stack's `parents` override then points python:<X> at them.
import { parseArgs } from "util";
import { pushStandIn, STAND_IN_PYTHONS, STAND_IN_SUITES } from "./standIns";

const USAGE = `usage: npm run stand-in-parents -- --registry <host:port> [--python <X>]...
  --registry  the registry to push to, e.g. 127.0.0.1:5000 (a loopback registry is plain HTTP)
  --python    a python version to make (default: all of ${STAND_IN_PYTHONS.join(", ")})`;

async function main(argv: string[]): Promise<number> {
    let values: { registry?: string; python?: string[]; help?: boolean };
    try {
        values = parseArgs({
            args: argv,
            options: { registry: { type: "string" }, python: { type: "string", multiple: true }, help: { type: "boolean", short: "h" } },
            strict: true,
        }).values;
    } catch (e) {
        process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
        return 2;
    }
    if (values.help) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }
    const registry = values.registry;
    if (!registry || !/^[A-Za-z0-9.-]+(:\d+)?$/.test(registry)) {
        process.stderr.write(
            `--registry ${JSON.stringify(registry ?? "")} is not a registry host[:port] (e.g. 127.0.0.1:5000)\n${USAGE}\n`,
        );
        return 2;
    }
    const pythons = values.python ?? STAND_IN_PYTHONS;
    const unknown = pythons.filter((p) => !STAND_IN_SUITES[p]);
    if (unknown.length > 0) {
        process.stderr.write(`--python ${unknown.join(", ")}: there are stand-ins for ${STAND_IN_PYTHONS.join(", ")} only\n${USAGE}\n`);
        return 2;
    }
    const progress = (line: string): void => void process.stderr.write(`${line}\n`);
    for (const python of pythons) {
        const pushed = await pushStandIn(python, registry, progress);
        process.stdout.write(`python:${python} (Debian ${pushed.suite}) -> ${pushed.reference}@${pushed.digest}\n`);
    }
    return 0;
}

main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: Error) => {
        process.stderr.write(`stand-in-parents: ${e.message}\n`);
        process.exitCode = 1;
    },
);
