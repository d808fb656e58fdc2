// A stand-in for the AWS CLI and its Session Manager plugin, for the Session Manager transport
// on loopback: `aws ssm start-session` with the AWS-StartSSHSession document pipes the session to
// a loopback sshd when the target is a running instance of the list the test keeps, as the plugin
// pipes it to the instance's port 22. `aws ec2 describe-instances` answers from that list
// (filtering by tags and state as EC2 does), so that a transport that looked instances up by
// their tags would work here, and the tests can see that it does not. Every call is logged.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface FakeInstance {
    readonly id: string;
    readonly tags: Readonly<Record<string, string>>;
    readonly state: "pending" | "running" | "stopped";
    /** ISO time; the newest wins. */
    readonly launchTime: string;
}

export interface FakeAws {
    /** Put first on PATH. */
    readonly binDir: string;
    setInstances(instances: readonly FakeInstance[]): void;
    /** Each call's arguments, in order. */
    calls(): string[][];
    /** Environment the fake reads: where its state is and which port stands for the instances' port 22. */
    env(sshdPort: number): Record<string, string>;
    remove(): void;
}

/** The query the ProxyCommand sends; the fake implements exactly this one. */
const NEWEST_ID_QUERY = "sort_by(Reservations[].Instances[], &LaunchTime)[-1].InstanceId";

const SCRIPT = `#!/usr/bin/env node
"use strict";
const fs = require("fs");
const net = require("net");
const path = require("path");
const state = process.env.FAKE_AWS_STATE;
const argv = process.argv.slice(2);
fs.appendFileSync(path.join(state, "calls.jsonl"), JSON.stringify(argv) + "\\n");
const opt = (name) => { const i = argv.indexOf(name); return i < 0 ? undefined : argv[i + 1]; };
const many = (name) => { const i = argv.indexOf(name); if (i < 0) return []; const out = []; for (let j = i + 1; j < argv.length && !argv[j].startsWith("--"); j++) out.push(argv[j]); return out; };
const instances = JSON.parse(fs.readFileSync(path.join(state, "instances.json"), "utf8"));
if (argv[0] === "ec2" && argv[1] === "describe-instances") {
    if (opt("--query") !== ${JSON.stringify(NEWEST_ID_QUERY)} || opt("--output") !== "text") { console.error("fake aws: unsupported query or output"); process.exit(2); }
    let found = instances;
    for (const f of many("--filters")) {
        const m = /^Name=([^,]+),Values=(.*)$/.exec(f);
        if (!m) { console.error("fake aws: bad filter " + f); process.exit(2); }
        const values = m[2].split(",");
        found = found.filter((i) => m[1] === "instance-state-name" ? values.includes(i.state) : m[1].startsWith("tag:") && values.includes(i.tags[m[1].slice(4)]));
    }
    found.sort((a, b) => a.launchTime.localeCompare(b.launchTime));
    console.log(found.length ? found[found.length - 1].id : "None");
    process.exit(0);
}
if (argv[0] === "ssm" && argv[1] === "start-session") {
    const target = instances.find((i) => i.id === opt("--target"));
    if (opt("--document-name") !== "AWS-StartSSHSession" || opt("--parameters") !== "portNumber=22") { console.error("fake aws: unexpected session document or parameters"); process.exit(2); }
    if (!target || target.state !== "running") { console.error("An error occurred (TargetNotConnected) when calling the StartSession operation: " + opt("--target") + " is not connected."); process.exit(254); }
    const socket = net.connect({ host: "127.0.0.1", port: Number(process.env.FAKE_AWS_SSHD_PORT) });
    process.stdin.pipe(socket);
    socket.pipe(process.stdout);
    socket.on("error", (e) => { console.error("fake aws: " + e.message); process.exit(255); });
    socket.on("close", () => process.exit(0));
    return;
}
console.error("fake aws: unsupported command " + argv.join(" "));
process.exit(2);
`;

export function installFakeAws(): FakeAws {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "fake-aws-"));
    const binDir = path.join(root, "bin");
    const state = path.join(root, "state");
    fs.mkdirSync(binDir);
    fs.mkdirSync(state);
    fs.writeFileSync(path.join(binDir, "aws"), SCRIPT, { mode: 0o755 });
    fs.writeFileSync(path.join(state, "instances.json"), "[]");
    return {
        binDir,
        setInstances: (instances) => fs.writeFileSync(path.join(state, "instances.json"), JSON.stringify(instances)),
        calls: () => {
            const file = path.join(state, "calls.jsonl");
            if (!fs.existsSync(file)) return [];
            return fs
                .readFileSync(file, "utf8")
                .split("\n")
                .filter((l) => l !== "")
                .map((l) => JSON.parse(l) as string[]);
        },
        env: (sshdPort) => ({ FAKE_AWS_STATE: state, FAKE_AWS_SSHD_PORT: String(sshdPort) }),
        remove: () => fs.rmSync(root, { recursive: true, force: true }),
    };
}
