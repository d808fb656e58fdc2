/**
 * Errors a user can act on. Each carries the whole message (what was given, what is allowed,
 * what to do); callers print `message` as is, without a stack trace.
 */
export class UserError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "UserError";
    }
}

/** The stack configuration is invalid. One error lists every bad key. */
export class ConfigError extends UserError {
    constructor(
        readonly problems: readonly string[],
        source: string,
    ) {
        super(
            `Invalid configuration in ${source} (${problems.length} problem${problems.length === 1 ? "" : "s"}); ` +
                `nothing was declared or published:\n` +
                problems.map((p) => `  - ${p}`).join("\n"),
        );
    }
}

/** images/ is inconsistent (a missing file, a malformed catalog). */
export class CatalogError extends UserError {}
