// The import rules of src/, checked by `npm run lint` (depcruise). The folders form layers, each
// importing only the ones before it (docs/architecture.md shows the same order):
//   src/*.ts (errors, validation messages) -> images -> config -> registry -> runners -> publish -> pulumi -> cli
// and the pure core (everything before pulumi) never imports Pulumi.
const LAYERS = ["images", "config", "registry", "runners", "publish", "pulumi", "cli"];

const layerRules = LAYERS.map((layer, i) => ({
    name: `layer-${layer}`,
    comment: `src/${layer}/ may import only ${["src/*.ts", ...LAYERS.slice(0, i).map((l) => `src/${l}/`)].join(", ")}: a folder that imports a later one makes the layers a cycle`,
    severity: "error",
    from: { path: `^src/${layer}/` },
    to: { path: `^src/(${LAYERS.slice(i + 1).join("|") || "(?!)"})/` },
}));

module.exports = {
    forbidden: [
        {
            name: "no-circular",
            comment: "no two files import each other, directly or through others (type-only imports count)",
            severity: "error",
            from: {},
            to: { circular: true },
        },
        ...layerRules,
        {
            name: "core-without-pulumi",
            comment: "the pure core knows nothing of Pulumi: only src/pulumi/ and index.ts import @pulumi/*",
            severity: "error",
            from: { path: "^src/(images|config|registry|runners|publish|cli)/|^src/[^/]+\\.ts$" },
            to: { path: "node_modules/@pulumi/" },
        },
        {
            name: "src-not-from-tests",
            comment: "src/ never imports test/ or bench/",
            severity: "error",
            from: { path: "^src/" },
            to: { path: "^(test|bench)/" },
        },
    ],
    options: {
        tsConfig: { fileName: "tsconfig.json" },
        tsPreCompilationDeps: true,
        doNotFollow: { path: "node_modules" },
        exclude: { path: "^src/pulumi/providerHost/" },
    },
};
