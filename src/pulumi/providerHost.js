// Loads a dynamic provider's implementation in the provider's own process. Plain CommonJS on
// purpose: the one-line methods that leanProvider.ts stores in the state require this file
// before ts-node is registered, and keeping the loading logic here keeps it out of every
// resource's inputs and outputs.
"use strict";
const fs = require("fs");
const path = require("path");

/**
 * Calls method `method` of export `exportName` of the module at `modulePath` (relative to the
 * project folder, without extension) with `args`. The project folder is the current directory
 * when it holds that module (the engine starts providers there), else `declaredRoot`, the folder
 * where the stack was declared. The module is this project's TypeScript, so ts-node is
 * registered first, as `pulumi` does for the program itself.
 */
module.exports = ([declaredRoot, modulePath, exportName], method, args) => {
    const root = [process.cwd(), declaredRoot].find((r) => fs.existsSync(path.join(r, modulePath + ".ts"))) ?? declaredRoot;
    if (!process[Symbol.for("ts-node.register.instance")]) {
        require(require.resolve("ts-node", { paths: [root] })).register({ transpileOnly: true, project: path.join(root, "tsconfig.json") });
    }
    return require(path.join(root, modulePath))[exportName][method](...args);
};
