#!/usr/bin/env node
// `npm run sim`: the compiled dist/src/sim/main.js, or the TypeScript through tsx while dist/ is
// missing or older than src/ (run-entry.js says why). Compiled, a seed costs about 4% less: no
// loader thread, no keep-names helpers around every closure.
import { runEntry } from "./run-entry.js";

await runEntry("src/sim/main.ts");
