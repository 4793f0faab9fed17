// Lint configuration. Beyond the recommended rules, it enforces the layering of
// docs/DESIGN.md §1: the Raft core in src/raft/ is pure and imports nothing outside itself
// but src/invariant/assert.ts, which imports nothing at all.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const ioModules = ["fs", "path", "http", "https", "net", "os", "child_process", "express",
  "axios", "pino"];

const rawCoreRestrictions = {
  patterns: [
    { group: ["node:*"], message: "src/raft/ is pure: no node:* imports (DESIGN.md §1)." },
    { regex: "^(\\./)*\\.\\./(?!invariant/assert\\.js$)",
      message: "src/raft/ imports nothing outside itself but ../invariant/assert.js." },
  ],
  paths: ioModules
    .map((name) => ({ name, message: "src/raft/ is pure: no I/O modules (DESIGN.md §1)." })),
};

// src/market/ is the deterministic state machine: every replica must compute the same state
// from the same log, so it reads no clock and no random source, and imports no other layer
// (DESIGN.md §1). node:crypto is allowed for hashing.
const marketRestrictions = {
  patterns: [
    { group: ["node:*", "!node:crypto"], message: "src/market/ is pure: only node:crypto." },
    { regex: "^(\\./)*\\.\\./(?!invariant/assert\\.js$)",
      message: "src/market/ imports nothing outside itself but ../invariant/assert.js." },
  ],
  paths: ioModules
    .map((name) => ({ name, message: "src/market/ is pure: no I/O modules (DESIGN.md §1)." })),
};

/** Rules for a layer that must be deterministic: no clock and no randomness of its own. */
function noClockOrRandomness(folder, why) {
  const message = `${folder} has no clock or randomness of its own: ${why}.`;
  return {
    "no-restricted-properties": ["error",
      { object: "Math", property: "random", message },
      { object: "Date", property: "now", message },
      { object: "performance", property: "now", message },
    ],
    "no-restricted-syntax": ["error", { selector: "NewExpression[callee.name='Date']", message }],
  };
}

/** A pure layer has no timers and does not touch the process. */
function noTimersOrProcess(folder, why) {
  return ["error",
    { name: "setTimeout", message: `${folder} has no timers: ${why}.` },
    { name: "setInterval", message: `${folder} has no timers: ${why}.` },
    { name: "process", message: `${folder} is pure.` },
  ];
}

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", "coverage/**", "data/**", "eslint.config.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: "module" },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    // Storage is driven by the simulator too: its randomness is the injected Rng, and it has
    // no clock (DESIGN.md §1, STYLE.md §6).
    files: ["src/storage/**/*.ts"],
    rules: noClockOrRandomness("src/storage/", "use the injected Rng"),
  },
  {
    files: ["src/raft/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", rawCoreRestrictions],
      "no-restricted-globals": noTimersOrProcess("src/raft/", "time is tick()"),
      ...noClockOrRandomness("src/raft/", "time is tick(); randomness is the injected Rng"),
    },
  },
  {
    // The one module the pure layers import from outside themselves: it must import nothing.
    files: ["src/invariant/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ regex: ".",
        message: "src/invariant/ imports nothing: src/raft/ and src/market/ import it." }] }],
      "no-restricted-globals": noTimersOrProcess("src/invariant/", "it is imported by the core"),
      ...noClockOrRandomness("src/invariant/", "it is imported by the core"),
    },
  },
  {
    files: ["src/market/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", marketRestrictions],
      "no-restricted-globals": noTimersOrProcess("src/market/", "time comes in commands (timeMs)"),
      ...noClockOrRandomness("src/market/", "it must be deterministic; time comes in commands"),
    },
  },
);
