import * as nunjucks from "nunjucks";

/**
 * Renders a Jinja template the way Python's Jinja2 does with a default `Environment()` (what
 * Truss's own base-image script uses): no autoescaping, undefined variables render empty, block
 * tags keep the newlines around them (no trim_blocks, no lstrip_blocks).
 *
 * nunjucks is a maintained port of Jinja2's syntax and semantics; where its defaults differ we
 * set them. Jinja2's lexer also reads every line ending as "\n" and drops one trailing newline of
 * the source (`keep_trailing_newline=False`); nunjucks does neither, so the source is prepared
 * the same way first. Booleans are printed as `true`/`false` rather than Python's `True`/`False`:
 * templates of base images only test them in `{% if %}`, and the comparison tests against
 * Jinja2 would show any template that prints one.
 */
export function renderJinja(source: string, variables: Readonly<Record<string, unknown>>): string {
    let text = source.replace(/\r\n?/g, "\n");
    if (text.endsWith("\n")) text = text.slice(0, -1);
    return environment().renderString(text, { ...variables });
}

let env: nunjucks.Environment | undefined;
function environment(): nunjucks.Environment {
    env ??= new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: false, trimBlocks: false, lstripBlocks: false });
    return env;
}
