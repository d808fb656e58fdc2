import { z } from "zod";
import { allCatalogParents, Catalog, pythonVersionsSource, trussBuildsLiveReload } from "../images/catalog";
import { requirementsPath, TRUSS_PATHS } from "../images/trussCheckout";
import { buildersSchema, BuildersConfig, platformProblems } from "./runners";
import { ConfigError } from "../errors";
import type { RegistryTarget } from "../images/spec";
import type { Matrix } from "../images/matrix";
import { DOCKER_TAG, longestVariantPrefix } from "../images/naming";
import { formatIssues, show, suggest } from "../validationMessages";
import { COMPRESSIONS, Compression, PLATFORMS, DEFAULT_PLATFORMS } from "../images/platforms";

/** The config namespace: keys are written `truss-base-images:<key>` in Pulumi.<stack>.yaml. */
export const CONFIG_NAMESPACE = "truss-base-images";

/** The stack configuration, validated (the keys the README's "Stack configuration" lists). The registry password is never in it. */
export interface StackConfig {
    readonly versionTag: string;
    readonly registry: RegistryTarget;
    /** Whether `registryPassword` is set; its value stays a secret wherever it is read. */
    readonly hasRegistryPassword: boolean;
    readonly matrix: Matrix;
    readonly push: boolean;
    readonly builders: BuildersConfig;
    readonly immutableTags: boolean;
    /** The deadline of each registry look-up, in seconds. */
    readonly registryTimeoutSeconds: number;
    /** Catalog parent reference -> the reference to build FROM instead (e.g. pinned by digest). */
    readonly parents: Readonly<Record<string, string>>;
    /** How the layers of each published image are compressed; gzip when absent. */
    readonly compression?: Compression;
    /** The Truss checkout that defines the images (absolute path); undefined: images/ does. */
    readonly trussCheckout?: string;
    /** Every parent must be pinned in images/parents.lock: an unpinned one stops the plan. */
    readonly requirePinnedParents: boolean;
}

/**
 * The registry password is a Pulumi secret, never plain text in a stack file: what the program
 * and the CLIs say when it is not (its value is never shown).
 */
export const PLAIN_PASSWORD =
    "is stored in plain text; it must be a secret. Run `pulumi config set --secret registryPassword` and remove the plain value.";

/** Marks a secret config value whose content the core must not see. */
export const SECRET_PRESENT = Symbol("secret value present");

const HOST = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/;
/** A host name a token service may have (no port: the scheme decides it). */
const REALM_HOST = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;
const NAMESPACE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
/** A Docker image reference: [host[:port]/]path[:tag][@sha256:digest]. */
export const IMAGE_REFERENCE = new RegExp(
    `^(?:[a-zA-Z0-9-]+(?:\\.[a-zA-Z0-9-]+)*(?::\\d+)?/)?${COMPONENT}(?:/${COMPONENT})*(?::[\\w][\\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`,
);

function uniqueNonEmptyList<T extends z.ZodType>(item: T, what: string) {
    return z
        .array(item, { error: (iss) => (iss.code === "invalid_type" ? `expected a list of ${what}` : undefined) })
        .min(1, `must list at least one of ${what}`)
        .superRefine((list, ctx) => {
            const seen = new Set<string>();
            list.forEach((v, i) => {
                const key = JSON.stringify(v);
                if (seen.has(key)) ctx.addIssue({ code: "custom", path: [i], message: `duplicate entry (each value may appear once)` });
                seen.add(key);
            });
        });
}

function schemaFor(catalog: Catalog) {
    const pythons = [...catalog.pythonVersions.keys()];
    const jobTypes = [...catalog.jobTypes.keys()];
    const catalogParents = allCatalogParents(catalog);
    const truss = catalog.truss;
    const versionTag = z.string({ error: "expected a string such as v0.2.2" }).min(1, "must not be empty; use a version such as v0.2.2");
    const pythonVersions = uniqueNonEmptyList(
        z.string({ error: `expected a python version as a string, such as "3.9" (quote it in YAML)` }).refine((v) => pythons.includes(v), {
            message: truss
                ? `is not a python version the Truss checkout supports (${pythonVersionsSource(catalog)}); supported: ${pythons.join(", ")}`
                : `is not a python version of the catalog (images/catalog.yaml); supported: ${pythons.join(", ")}`,
        }),
        `the python versions ${pythons.join(", ")}`,
    );
    const unknownJobType = (v: string): string =>
        truss
            ? `has no requirements in the Truss checkout: ${truss.dir}/${requirementsPath(v)} does not exist; job types there: ${jobTypes.join(", ")}`
            : `is not a job type of the catalog (images/catalog.yaml); allowed: ${jobTypes.join(", ")}`;
    return z
        .strictObject({
            versionTag: truss ? versionTag.optional() : versionTag,
            truss: z
                .strictObject(
                    {
                        checkout: z
                            .string({ error: "expected a path (relative to the project folder, or absolute)" })
                            .min(1, "must not be empty"),
                    },
                    {
                        error: (iss) =>
                            iss.code === "invalid_type" ? "expected an object { checkout: <path of a Truss checkout> }" : undefined,
                    },
                )
                .optional(),
            registry: z.strictObject(
                {
                    server: z
                        .string({ error: "expected a host name such as docker.io or localhost:5000" })
                        .regex(HOST, "must be a registry host[:port] without a scheme or path, such as docker.io or localhost:5000"),
                    namespace: z
                        .string({ error: "expected a string such as baseten" })
                        .regex(NAMESPACE, "must be a lower-case Docker namespace such as baseten"),
                    username: z
                        .string({ error: "expected a string" })
                        .min(1, "must not be empty; leave it out for anonymous access")
                        .optional(),
                    tokenRealmHosts: uniqueNonEmptyList(
                        z
                            .string({ error: "expected a host name such as auth.example.com" })
                            .regex(REALM_HOST, "must be a host name without a scheme, port or path, such as auth.example.com"),
                        "host names of token services",
                    ).optional(),
                },
                {
                    error: (iss) =>
                        iss.code === "invalid_type" ? "expected an object { server, namespace, username?, tokenRealmHosts? }" : undefined,
                },
            ),
            registryPassword: z.any().optional(),
            matrix: z.strictObject(
                {
                    jobTypes: uniqueNonEmptyList(
                        z.string({ error: `expected a job type (${jobTypes.join(", ")})` }).superRefine((v, ctx) => {
                            if (!jobTypes.includes(v)) ctx.addIssue({ code: "custom", message: unknownJobType(v) });
                        }),
                        `the job types ${jobTypes.join(", ")}`,
                    ),
                    pythonVersions: truss ? pythonVersions.optional() : pythonVersions,
                    gpu: uniqueNonEmptyList(z.boolean({ error: "expected true or false" }), "true, false"),
                    liveReload: uniqueNonEmptyList(z.boolean({ error: "expected true or false" }), "true, false"),
                    platforms: uniqueNonEmptyList(
                        z.string({ error: `expected a platform such as "linux/amd64"` }).refine((v) => PLATFORMS.includes(v), {
                            message: `is not a platform the images are built for; allowed: ${PLATFORMS.join(", ")}`,
                        }),
                        `the platforms ${PLATFORMS.join(", ")}`,
                    ).default([...DEFAULT_PLATFORMS]),
                },
                {
                    error: (iss) =>
                        iss.code === "invalid_type"
                            ? "expected an object { jobTypes, pythonVersions, gpu, liveReload, platforms? }"
                            : undefined,
                },
            ),
            push: z.boolean({ error: "expected true or false" }).default(true),
            builders: buildersSchema,
            immutableTags: z.boolean({ error: "expected true or false" }).default(true),
            compression: z
                .enum(COMPRESSIONS, { error: `expected one of ${COMPRESSIONS.map((c) => JSON.stringify(c)).join(", ")}` })
                .default("gzip"),
            registryTimeoutSeconds: z
                .number({ error: "expected a number of seconds such as 60" })
                .int("expected a whole number of seconds")
                .min(1, "must be at least 1 second")
                .max(3600, "must be at most 3600 seconds")
                .default(60),
            parents: z
                .record(
                    z.string(),
                    z
                        .string({ error: "expected an image reference" })
                        .regex(IMAGE_REFERENCE, "is not a Docker image reference (name[:tag][@sha256:digest])"),
                    { error: "expected an object mapping a parent image to the reference to use" },
                )
                .default({}),
            requirePinnedParents: z.boolean({ error: "expected true or false" }).default(false),
        })
        .superRefine(
            (parsed, ctx) => {
                // Runs even when other keys are invalid (see `when`), so that every mistake is
                // reported at once: it reads only values that are themselves well formed.
                const cfg = parsed as unknown as Record<string, unknown>;
                const registry = isObject(cfg.registry) ? cfg.registry : {};
                const username = typeof registry.username === "string" ? registry.username : undefined;
                const pw = cfg.registryPassword;
                if (typeof pw === "string" && pw !== "") {
                    ctx.addIssue({ code: "custom", path: ["registryPassword"], message: PLAIN_PASSWORD });
                } else if (username !== undefined && (pw === undefined || pw === "")) {
                    ctx.addIssue({
                        code: "custom",
                        path: ["registryPassword"],
                        message: `is required because registry.username is set (${show(username)}); set it with \`pulumi config set --secret registryPassword\``,
                    });
                }
                const asked = isObject(cfg.matrix) && Array.isArray(cfg.matrix.pythonVersions) ? cfg.matrix.pythonVersions : [];
                const known = asked.filter((v): v is string => typeof v === "string" && pythons.includes(v));
                const prefix = longestVariantPrefix(known.length > 0 ? known : pythons);
                const versionTag = cfg.versionTag ?? truss?.versionTag;
                if (truss && typeof cfg.versionTag === "string" && cfg.versionTag !== truss.versionTag && cfg.immutableTags !== false) {
                    ctx.addIssue({
                        code: "custom",
                        path: ["versionTag"],
                        message:
                            `is ${JSON.stringify(cfg.versionTag)}, but the Truss checkout's TRUSS_BASE_IMAGE_VERSION_TAG (${truss.dir}/${TRUSS_PATHS.versionTag}) is ${JSON.stringify(truss.versionTag)}; ` +
                            `a different tag is allowed only with immutableTags: false (a test tag); otherwise remove versionTag to use the checkout's`,
                    });
                }
                const reload = isObject(cfg.matrix) && Array.isArray(cfg.matrix.liveReload) ? cfg.matrix.liveReload : [];
                if (truss && reload.includes(true) && !trussBuildsLiveReload(truss)) {
                    ctx.addIssue({
                        code: "custom",
                        path: ["matrix", "liveReload"],
                        message:
                            `asks for live-reload images, but the Truss checkout's template (${TRUSS_PATHS.template}, with what it includes) never reads live_reload, ` +
                            `so it builds none (2023's templates did, with {% if live_reload %}); use [false]`,
                    });
                }
                const example = `${prefix}${versionTag}`;
                if (typeof versionTag === "string" && versionTag !== "" && !(DOCKER_TAG.test(versionTag) && DOCKER_TAG.test(example))) {
                    ctx.addIssue({
                        code: "custom",
                        path: ["versionTag"],
                        message:
                            `makes the tag ${JSON.stringify(example)}, which is not a valid Docker tag; allowed: letters, digits, "_", "." and "-", ` +
                            `starting with a letter, digit or "_", with the whole tag at most 128 characters (so at most ${128 - prefix.length} here)`,
                    });
                }
                const platforms = isObject(cfg.matrix) && Array.isArray(cfg.matrix.platforms) ? cfg.matrix.platforms : DEFAULT_PLATFORMS;
                for (const problem of platformProblems(cfg.builders, platforms)) {
                    ctx.addIssue({ code: "custom", path: [...problem.path], message: problem.message });
                }
                for (const key of isObject(cfg.parents) ? Object.keys(cfg.parents) : []) {
                    if (!catalogParents.includes(key)) {
                        const hint = suggest(key, catalogParents);
                        ctx.addIssue({
                            code: "custom",
                            path: ["parents", key],
                            message: `overrides a parent no image of the catalog uses${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ""}; parents in use: ${catalogParents.join(", ")}`,
                        });
                    }
                }
            },
            { when: () => true },
        );
}

function isObject(v: unknown): v is Record<string, unknown> {
    return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * Validates raw stack config (keys without the namespace; values already decoded from
 * YAML/JSON). `registryPassword` may be SECRET_PRESENT: the core only needs to know it is set.
 * Throws one ConfigError that lists every problem.
 */
export function parseStackConfig(raw: Readonly<Record<string, unknown>>, catalog: Catalog, source: string): StackConfig {
    const schema = schemaFor(catalog);
    const result = schema.safeParse(raw);
    if (!result.success) {
        throw new ConfigError(formatIssues(result.error.issues, raw, schema, `${CONFIG_NAMESPACE}:`), source);
    }
    const c = result.data;
    const truss = catalog.truss;
    return {
        versionTag: (c.versionTag ?? truss?.versionTag) as string,
        registry: c.registry,
        hasRegistryPassword: c.registryPassword !== undefined,
        matrix: { ...c.matrix, pythonVersions: c.matrix.pythonVersions ?? [...catalog.pythonVersions.keys()] },
        push: c.push,
        builders: c.builders,
        immutableTags: c.immutableTags,
        registryTimeoutSeconds: c.registryTimeoutSeconds,
        parents: c.parents,
        compression: c.compression,
        ...(truss ? { trussCheckout: truss.dir } : {}),
        requirePinnedParents: c.requirePinnedParents,
    };
}

/** Keys whose values are plain strings in Pulumi config (everything else is JSON). */
const STRING_KEYS = new Set(["versionTag", "registryPassword"]);

/**
 * One config value as Pulumi stores it: structured values may arrive as JSON text (that is how
 * the engine hands them to a program, and what `pulumi config set matrix '{...}'` stores).
 */
export function decodeValue(key: string, value: unknown): unknown {
    if (typeof value !== "string" || STRING_KEYS.has(key)) return value;
    try {
        return JSON.parse(value);
    } catch {
        return value;
    }
}

/**
 * Decodes Pulumi's flat config (`truss-base-images:key` -> string, objects as JSON text) into
 * raw values for parseStackConfig. Keys of other namespaces are ignored.
 */
export function decodePulumiConfig(all: Readonly<Record<string, string>>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [fullKey, text] of Object.entries(all)) {
        const [ns, key] = splitKey(fullKey);
        if (ns === CONFIG_NAMESPACE) out[key] = decodeValue(key, text);
    }
    return out;
}

function splitKey(fullKey: string): [string, string] {
    const i = fullKey.indexOf(":");
    return i < 0 ? ["", fullKey] : [fullKey.slice(0, i), fullKey.slice(i + 1)];
}
