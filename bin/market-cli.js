#!/usr/bin/env node
// `npx market-cli`: the compiled market-cli bundled into one file (dist/market-cli.mjs, by
// scripts/bundle-cli.mjs), or the TypeScript through tsx while dist/ is missing or older than
// src/ (run-entry.js says why).
import { runEntry } from "./run-entry.js";

await runEntry("src/cli/market-cli.ts", "dist/market-cli.mjs");
