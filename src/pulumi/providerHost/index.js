// The one provider object of every dynamic resource of this project. npm installs this folder
// as a copy in node_modules (the project's .npmrc sets install-links=true), and Pulumi's closure
// serializer captures what lives in node_modules by reference: so what each resource stores as
// its provider is a `require` of this package, under 300 bytes, whatever the providers do.
//
// Each resource names its implementation in the input `__implementation` (e.g. "SmokeTest");
// this file finds the project folder, registers ts-node as `pulumi` does for the program, and
// hands the call to that implementation (src/pulumi/providerImplementations.ts). A method that
// the implementation leaves out behaves as Pulumi's provider server does when a provider lacks
// it. The name is kept in the outputs too, so that delete and refresh, which only see the
// state, find the implementation. Plain CommonJS: it runs before ts-node is registered.
"use strict";
const fs = require("fs");
const path = require("path");

const KEY = "__implementation";
const REGISTRY = path.join("src", "pulumi", "providerImplementations");

let registry;

/** The project folder: the current directory (where the engine starts providers), else the one this copy was installed in. */
function projectRoot() {
    const candidates = [process.cwd(), path.resolve(__dirname, "..", "..")];
    const root = candidates.find((r) => fs.existsSync(path.join(r, REGISTRY + ".ts")));
    if (!root) {
        throw new Error(
            `truss-base-images' dynamic providers live in ${REGISTRY}.ts, which is in none of ${candidates.join(", ")}: ` +
                `run pulumi from the truss-base-images project folder, with its node_modules installed (npm ci).`,
        );
    }
    return root;
}

function implementationOf(props) {
    const name = props && props[KEY];
    if (typeof name !== "string") {
        throw new Error(`this resource has no ${KEY} in its inputs or state: it was not declared by truss-base-images' Pulumi program.`);
    }
    if (!registry) {
        const root = projectRoot();
        if (!process[Symbol.for("ts-node.register.instance")]) {
            require(require.resolve("ts-node", { paths: [root] })).register({
                transpileOnly: true,
                project: path.join(root, "tsconfig.json"),
            });
        }
        registry = require(path.join(root, REGISTRY));
    }
    return { name, implementation: registry.implementationOf(name) };
}

const keep = (name, props) => Object.assign({}, props, { [KEY]: name });

module.exports = {
    async check(olds, news) {
        const { name, implementation } = implementationOf(news);
        const result = implementation.check ? await implementation.check(olds, news) : {};
        return Object.assign({}, result, { inputs: keep(name, result.inputs || news) });
    },
    async diff(id, olds, news) {
        const { implementation } = implementationOf(news[KEY] === undefined ? olds : news);
        return implementation.diff ? implementation.diff(id, olds, news) : {};
    },
    async create(inputs) {
        const { name, implementation } = implementationOf(inputs);
        const result = await implementation.create(inputs);
        return Object.assign({}, result, { outs: keep(name, result.outs) });
    },
    async read(id, props) {
        const { name, implementation } = implementationOf(props);
        if (!implementation.read) return { id, props };
        const result = await implementation.read(id, props);
        // No props: the resource is gone (an empty id), and the engine drops it from the state.
        if (result.props === undefined) return result;
        return Object.assign({}, result, { props: keep(name, result.props) }, result.inputs ? { inputs: keep(name, result.inputs) } : {});
    },
    async update(id, olds, news) {
        const { name, implementation } = implementationOf(news);
        const result = (implementation.update && (await implementation.update(id, olds, news))) || {};
        return Object.assign({}, result, { outs: keep(name, result.outs) });
    },
    async delete(id, props) {
        const { implementation } = implementationOf(props);
        if (implementation.delete) await implementation.delete(id, props);
    },
};
