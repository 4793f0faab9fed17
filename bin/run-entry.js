/**
 * How the bins start: the compiled JavaScript in dist/ when it is up to date, else the
 * TypeScript in src/ through tsx.
 *
 * `npm install` and `npm ci` compile src/ into dist/ (the `prepare` script runs `npm run
 * build`), so after set-up a bin starts in plain Node: tsx would compile every module again at
 * each start, which costs most of a second. dist/ is missing or older than src/ when the source
 * was changed (an edit, a pull, a checkout) and not rebuilt, or when the install ran with
 * --ignore-scripts. The bin then still does what the user asked, with the code as it is now,
 * through tsx: what a user expects of a command is that it runs their code, and the other
 * choices are worse (a stale dist/ would silently run yesterday's code, and refusing to run
 * would stop a command that can run). On a terminal it says, in one line on stderr, that it
 * runs the slower way and what makes it fast again (`npm run build`); in a pipe or a log (a
 * script, the nodes of `npm run cluster`, the tests) it says nothing, so that the output and
 * the errors stay the command's own.
 *
 * "Older" is by modification time: the compiled entry point against the newest file or folder
 * under src/ (a folder's time changes when a file in it is added, removed or renamed). The
 * build compiles every file at once, and writes nothing if any file fails to compile
 * (noEmitOnError); market-cli's bundle is written after that. So the entry point's time is
 * the build's. The walk costs a few milliseconds.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** A bound on the walk of src/: past it, dist/ counts as stale and tsx runs the source. */
const sourceEntriesMax = 20_000;

/**
 * Runs `source` (a path under the package root, e.g. "src/cli/market-cli.ts") compiled when the
 * build is up to date, else through tsx. The compiled file is `compiledPath` (under the root),
 * by default the one tsc writes: dist/ and the source's path, ending in .js.
 */
export async function runEntry(source, compiledPath = path.join("dist",
  source.replace(/\.ts$/, ".js"))) {
  const compiled = path.join(root, compiledPath);
  const problem = compiledProblem(compiled);
  if (problem === null) {
    await import(pathToFileURL(compiled).href);
    return;
  }
  if (process.stderr.isTTY === true) {
    const name = path.basename(source, ".ts");
    process.stderr.write(`${name}: ${problem}, so this runs the TypeScript through tsx, ` +
      "which is slower to start; npm run build compiles it\n");
  }
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(path.join(root, source)).href);
}

/** Why the compiled entry point cannot be used, or null when it can. */
function compiledProblem(compiled) {
  const sourceDir = path.join(root, "src");
  if (!existsSync(compiled)) return "dist/ has not been built";
  // A copy without its source (dist/ only) has nothing to be stale against.
  if (!existsSync(sourceDir)) return null;
  const newest = newestUnder(sourceDir);
  if (newest === null) return `src/ has more than ${sourceEntriesMax} entries`;
  if (newest.mtimeMs > statSync(compiled).mtimeMs) {
    return `dist/ is older than ${path.relative(root, newest.path)}`;
  }
  return null;
}

/** The most recently modified file or folder under `dir` (itself included); null past the bound. */
function newestUnder(dir) {
  let newest = { path: dir, mtimeMs: statSync(dir).mtimeMs };
  const pending = [dir];
  let seen = 0;
  while (pending.length > 0) {
    const current = pending.pop();
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      seen += 1;
      if (seen > sourceEntriesMax) return null;
      const full = path.join(current, entry.name);
      const { mtimeMs } = statSync(full);
      if (mtimeMs > newest.mtimeMs) newest = { path: full, mtimeMs };
      if (entry.isDirectory()) pending.push(full);
    }
  }
  return newest;
}
