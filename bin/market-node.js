#!/usr/bin/env node
// `npx market-node`: the compiled dist/src/cli/market-node.js, or the TypeScript through tsx
// while dist/ is missing or older than src/ (run-entry.js says why). `npm run cluster` starts
// its nodes through this file too.
import { runEntry } from "./run-entry.js";

await runEntry("src/cli/market-node.ts");
