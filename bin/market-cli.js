#!/usr/bin/env node
// `npx market-cli`: the compiled dist/src/cli/market-cli.js, or the TypeScript through tsx while
// dist/ is missing or older than src/ (run-entry.js says why).
import { runEntry } from "./run-entry.js";

await runEntry("src/cli/market-cli.ts");
