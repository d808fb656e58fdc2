import { strict as assert } from "assert";
import { contextSources, fromLines, fromReferences } from "../../../src/images/dockerfile";

describe("dockerfile: the one reader of FROM, ARG, COPY and ADD", () => {
    it("drops a comment inside a continuation for every question (COPY sources and FROM alike)", () => {
        const text = ["FROM python:3.11 \\", "# a note inside the continuation", "  AS base", "COPY requirements.txt \\", "# another", "  control /app/", ""].join("\n");
        assert.deepEqual(fromReferences(text), ["python:3.11"]);
        assert.deepEqual(contextSources(text), ["requirements.txt", "control"]);
    });

    it("reads \\r\\n line endings as \\n", () => {
        const text = "FROM python:3.13\r\nCOPY ./requirements.txt \\\r\n  /app/requirements.txt\r\n";
        assert.deepEqual(fromReferences(text), ["python:3.13"]);
        assert.deepEqual(contextSources(text), ["requirements.txt"]);
    });

    it("takes neither scratch nor the name of an earlier stage for a parent, nor a COPY --from for a context file", () => {
        const text = ["FROM python:3.11 AS build", "COPY requirements.txt .", "FROM scratch", "FROM build", "COPY --from=build /app /app", ""].join("\n");
        assert.deepEqual(fromReferences(text), ["python:3.11"]);
        assert.deepEqual(contextSources(text), ["requirements.txt"]);
    });

    it("expands the ARGs declared before the first FROM, a build argument over their default", () => {
        const text = ['ARG PARENT="python:3.9"', "FROM ${PARENT}", ""].join("\n");
        assert.deepEqual(
            fromLines(text, {}).map((f) => [f.written, f.reference, f.viaArg]),
            [["${PARENT}", "python:3.9", "PARENT"]],
        );
        assert.equal(fromLines(text, { PARENT: "registry.example.com/python:3.9" })[0].reference, "registry.example.com/python:3.9");
        assert.deepEqual(fromReferences(text), ["${PARENT}"], "fromReferences gives the image as written, the key a parents override names");
    });
});
