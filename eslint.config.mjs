// Lint rules: typescript-eslint's recommended set with type information, plus the two rules
// that catch a promise nobody awaits, which in a Pulumi program silently drops a resource or an error.
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", ".build/", "dist/", "eslint.config.mjs", ".dependency-cruiser.cjs"] },
    ...tseslint.configs.recommended,
    {
        languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
        rules: {
            "@typescript-eslint/no-floating-promises": "error",
            "@typescript-eslint/no-misused-promises": "error",
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
        },
    },
    {
        // Plain-node scripts that run before npm ci, and the dynamic providers' host, which runs
        // before ts-node is registered (CommonJS, no types, nothing to await).
        files: ["scripts/**/*.js", "src/pulumi/providerHost/**/*.js"],
        ...tseslint.configs.disableTypeChecked,
        languageOptions: {
            ...tseslint.configs.disableTypeChecked.languageOptions,
            sourceType: "commonjs",
            globals: { require: "readonly", module: "writable", process: "readonly", __dirname: "readonly", console: "readonly" },
        },
        rules: { ...tseslint.configs.disableTypeChecked.rules, "@typescript-eslint/no-require-imports": "off" },
    },
    {
        // Tests load modules at run time (a fresh index.ts per stack, a serialized provider) and
        // reach into mock records whose shape Pulumi does not type.
        files: ["test/**/*.ts", "bench/**/*.ts"],
        rules: { "@typescript-eslint/no-require-imports": "off", "@typescript-eslint/no-explicit-any": "off" },
    },
);
