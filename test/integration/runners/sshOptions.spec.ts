// The runner command lines as the real ssh client and shell read them: `ssh -G` prints the
// configuration a command line results in, without connecting.
import * as assert from "assert";
import { execFileSync } from "child_process";
import { shellQuote } from "../../../src/runners/commandLine";
import { readinessSteps } from "../../../src/runners/readiness";
import { sshOptions } from "../../../src/runners/ssh";
import { ssmProxyCommand } from "../../../src/runners/ssm";

/** The settings ssh derives from options and a destination (`ssh -G`). */
function effective(options: readonly string[], destination: string): (key: string) => string | undefined {
    const out = execFileSync("ssh", ["-G", ...options, destination], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return (key) => new RegExp(`^${key} (.*)$`, "m").exec(out)?.[1];
}

describe("runner ssh options (ssh -G)", () => {
    it("the ssh client accepts the options and expands ~ itself: only the runner's pinned key, under its alias, from its own file", () => {
        const setting = effective(sshOptions({ hostKeyAlias: "truss-base-images-prod-runner-gpu-0" }), "ubuntu@203.0.113.10");
        assert.strictEqual(setting("user"), "ubuntu");
        assert.strictEqual(setting("hostname"), "203.0.113.10");
        assert.strictEqual(setting("stricthostkeychecking"), "true");
        assert.strictEqual(setting("hostkeyalias"), "truss-base-images-prod-runner-gpu-0");
        assert.strictEqual(setting("globalknownhostsfile"), "/dev/null");
        assert.strictEqual(setting("updatehostkeys"), "false");
        assert.strictEqual(setting("batchmode"), "yes");
        assert.match(
            setting("userknownhostsfile") ?? "",
            /^\/.*\/\.ssh\/truss-base-images\/truss-base-images-prod-runner-gpu-0\.known_hosts$/,
        );
        assert.match(setting("controlpath") ?? "", /^\/.*\/\.ssh\/truss-base-images\/cm-[0-9a-f]{40}$/);
        assert.strictEqual(setting("proxycommand"), undefined);
    });

    it("access ssm: ssh takes the ProxyCommand whole, with %p left for it to fill", () => {
        const proxy = ssmProxyCommand({ project: "truss-base-images", stack: "prod", runner: "gpu-0", region: "us-east-1" });
        const setting = effective(
            sshOptions({ hostKeyAlias: "truss-base-images-prod-runner-gpu-0", proxyCommand: proxy }),
            "ubuntu@truss-base-images-prod-runner-gpu-0",
        );
        assert.strictEqual(setting("hostname"), "truss-base-images-prod-runner-gpu-0");
        assert.strictEqual(setting("proxycommand"), proxy);
    });

    it("the readiness gate's cloud-init wait uses no shared connection; its docker info uses the provider's", () => {
        const endpoint = { host: "ssh://ubuntu@203.0.113.10", sshOpts: sshOptions({}) };
        const [cloudInit, , info] = readinessSteps(endpoint, { waitForCloudInit: true });
        // ssh keeps the first value of an option: ask ssh itself what each command line means.
        const optionsOf = (args: readonly string[]) => args.slice(0, args.indexOf("ubuntu@203.0.113.10")).filter((a) => a !== "-T");
        const setup = effective(optionsOf(cloudInit.command.args), "ubuntu@203.0.113.10");
        assert.strictEqual(setup("controlmaster"), "false");
        assert.strictEqual(setup("controlpath"), undefined, "no control socket for the setup wait");
        assert.strictEqual(effective(optionsOf(info.command.args), "ubuntu@203.0.113.10")("controlmaster"), "auto");
    });

    it("quotes words for the remote shell so that they arrive unchanged (sh)", () => {
        const words = ["plain", "it's", "$HOME", "a b", "{{json .Runtimes}}", "", "semi;colon", "back\\slash"];
        const echoed = execFileSync("sh", ["-c", `printf '%s\\n' ${words.map(shellQuote).join(" ")}`], { encoding: "utf8" });
        assert.deepStrictEqual(echoed.split("\n").slice(0, -1), words);
    });
});
