import * as pulumi from "@pulumi/pulumi";
import { generateHostKey } from "../runners/hostKey";

/** What creating a runner's host key adds to its inputs: a new key pair. */
export function runnerHostKeyOutputs(alias: string): { publicKey: string; privateKey: string } {
    const key = generateHostKey(alias);
    return { publicKey: key.publicKey, privateKey: key.privateKey };
}

export const runnerHostKeyImplementation: pulumi.dynamic.ResourceProvider = {
    async diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
        return olds.alias !== news.alias ? { changes: true, replaces: ["alias"], deleteBeforeReplace: false } : { changes: false };
    },
    async create(inputs: Record<string, unknown>) {
        const alias = String(inputs.alias);
        return { id: alias, outs: { ...inputs, ...runnerHostKeyOutputs(alias) } };
    },
};
