import type { RunnerPool } from "../config/runners";
import type { RunnerId } from "./pools";

/**
 * Tags on every resource of a runner pool; `runner` also on the resources of one runner. The
 * Session Manager transport finds a runner's instance by `project`, `stack` and `runner`.
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
