import type { RunnerPool } from "../config/runners";
import type { RunnerId } from "./pools";

/**
 * Tags on every resource of a runner pool; `runner` also on the resources of one runner. They
 * name and group the resources (and the Elastic IP is read back by them); no connection trusts
 * them: the Session Manager transport goes to the instance id of the state.
 */
export function runnerTags(a: {
    readonly project: string;
    readonly stack: string;
    readonly pool: RunnerPool;
    readonly runner?: RunnerId;
}): Record<string, string> {
    const name = `${a.project}-${a.stack}-${a.runner ? `runner-${a.runner.name}` : `runners-${a.pool}`}`;
    return { Name: name, project: a.project, stack: a.stack, pool: a.pool, ...(a.runner ? { runner: a.runner.name } : {}) };
}
