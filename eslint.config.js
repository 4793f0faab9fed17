// Lint configuration. Beyond the recommended rules, it enforces the layering of
// ../shared/DESIGN.md §1: the Raft core in src/raft/ is pure and imports nothing outside itself.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const rawCoreRestrictions = {
  patterns: [
    { group: ["node:*"], message: "src/raft/ is pure: no node:* imports (DESIGN.md §1)." },
    { group: ["../*", "!./*"], message: "src/raft/ imports nothing outside itself." },
  ],
  paths: ["fs", "path", "http", "https", "net", "os", "child_process", "express", "axios", "pino"]
    .map((name) => ({ name, message: "src/raft/ is pure: no I/O modules (DESIGN.md §1)." })),
};

// src/market/ is the deterministic state machine: every replica must compute the same state
// from the same log, so it reads no clock and no random source, and imports no other layer
// (DESIGN.md §1). node:crypto is allowed for hashing.
const marketRestrictions = {
  patterns: [
    { group: ["node:*", "!node:crypto"], message: "src/market/ is pure: only node:crypto." },
    { group: ["../*"], message: "src/market/ imports nothing outside itself." },
  ],
  paths: ["fs", "path", "http", "https", "net", "os", "child_process", "express", "axios", "pino"]
    .map((name) => ({ name, message: "src/market/ is pure: no I/O modules (DESIGN.md §1)." })),
};

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
    rules: {
      "no-restricted-properties": ["error",
        { object: "Math", property: "random", message: "Use the injected Rng." },
        { object: "Date", property: "now", message: "src/storage/ has no clock." },
        { object: "performance", property: "now", message: "src/storage/ has no clock." },
      ],
      "no-restricted-syntax": ["error",
        { selector: "NewExpression[callee.name='Date']", message: "src/storage/ has no clock." },
      ],
    },
  },
  {
    files: ["src/raft/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", rawCoreRestrictions],
      "no-restricted-globals": ["error",
        { name: "setTimeout", message: "src/raft/ has no timers: time is tick()." },
        { name: "setInterval", message: "src/raft/ has no timers: time is tick()." },
        { name: "process", message: "src/raft/ is pure." },
      ],
      "no-restricted-properties": ["error",
        { object: "Math", property: "random", message: "Use the injected Rng." },
        { object: "Date", property: "now", message: "src/raft/ has no clock: time is tick()." },
        { object: "performance", property: "now", message: "src/raft/ has no clock." },
      ],
      "no-restricted-syntax": ["error",
        { selector: "NewExpression[callee.name='Date']", message: "src/raft/ has no clock." },
      ],
    },
  },
  {
    files: ["src/market/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", marketRestrictions],
      "no-restricted-globals": ["error",
        { name: "setTimeout", message: "src/market/ has no timers: time comes in commands." },
        { name: "setInterval", message: "src/market/ has no timers: time comes in commands." },
        { name: "process", message: "src/market/ is pure." },
      ],
      "no-restricted-properties": ["error",
        { object: "Math", property: "random", message: "src/market/ must be deterministic." },
        { object: "Date", property: "now", message: "src/market/ has no clock: use timeMs." },
        { object: "performance", property: "now", message: "src/market/ has no clock." },
      ],
      "no-restricted-syntax": ["error",
        { selector: "NewExpression[callee.name='Date']", message: "src/market/ has no clock." },
      ],
    },
  },
);
