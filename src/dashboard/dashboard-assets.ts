/**
 * The live view's browser assets: src/dashboard/web/ (Preact with htm, uPlot) bundled by
 * esbuild into one script and one stylesheet. `npm run build` writes them to dist/dashboard/
 * (scripts/bundle-dashboard.mjs calls buildDashboardBundle), and the servers read them from
 * there. When dist/dashboard/ is missing or older than the page's source (an edit not rebuilt,
 * an install with --ignore-scripts), the bundle is built in memory on first request with
 * esbuild's API, as bin/run-entry.js runs the TypeScript when dist/ is stale: the page a user
 * sees is the code as it is now. The page loads nothing else: no CDN, no font.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { BuildOptions } from "esbuild";

export interface DashboardAsset {
  readonly contentType: string;
  readonly body: Buffer;
}

/** The package root: the nearest folder above this file with a package.json. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json")) && path.dirname(dir) !== dir) {
    dir = path.dirname(dir);
  }
  return dir;
}

const root = packageRoot();
export const dashboardBundleDir = path.join(root, "dist", "dashboard");
const sourceDir = path.join(root, "src", "dashboard");
const entryPoint = path.join(sourceDir, "web", "main.ts");
const bundleFiles = { "dashboard.js": "text/javascript; charset=utf-8",
  "dashboard.css": "text/css; charset=utf-8" } as const;

/** The esbuild options of the bundle, in memory (`write: false`) or into `outdir`. */
function buildOptions(outdir: string, write: boolean): BuildOptions {
  return {
    entryPoints: { dashboard: entryPoint },
    outdir,
    write,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2020"],
    minify: true,
    sourcemap: false,
    logLevel: "warning",
  };
}

/** Writes the bundle into dist/dashboard/ (the build's step). */
export async function buildDashboardBundle(outdir = dashboardBundleDir): Promise<void> {
  const esbuild = await import("esbuild");
  await esbuild.build(buildOptions(outdir, true));
}

/** Newest modification time under `dir` (files and folders), bounded walk. */
function newestMtimeMs(dir: string): number {
  let newest = statSync(dir).mtimeMs;
  const pending = [dir];
  let seen = 0;
  while (pending.length > 0 && seen < 5000) {
    const current = pending.pop()!;
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      seen++;
      const full = path.join(current, entry.name);
      newest = Math.max(newest, statSync(full).mtimeMs);
      if (entry.isDirectory()) pending.push(full);
    }
  }
  return newest;
}

/** Why the bundle in dist/ cannot be served, or null when it can. */
export function bundleProblem(): string | null {
  const files = Object.keys(bundleFiles).map((name) => path.join(dashboardBundleDir, name));
  if (!files.every((file) => existsSync(file))) return "dist/dashboard/ has not been built";
  if (!existsSync(sourceDir)) return null;
  const builtMs = Math.min(...files.map((file) => statSync(file).mtimeMs));
  return newestMtimeMs(sourceDir) > builtMs ? "dist/dashboard/ is older than src/dashboard/"
    : null;
}

let loading: Promise<Map<string, DashboardAsset>> | null = null;

/** The assets by file name, read or built once per process. */
export function dashboardAssets(): Promise<Map<string, DashboardAsset>> {
  loading ??= loadAssets().catch((error: unknown) => {
    loading = null;
    throw error;
  });
  return loading;
}

async function loadAssets(): Promise<Map<string, DashboardAsset>> {
  const assets = new Map<string, DashboardAsset>();
  if (bundleProblem() === null) {
    for (const [name, contentType] of Object.entries(bundleFiles)) {
      assets.set(name, { contentType, body: readFileSync(path.join(dashboardBundleDir, name)) });
    }
    return assets;
  }
  const esbuild = await import("esbuild");
  const result = await esbuild.build(buildOptions(dashboardBundleDir, false));
  for (const file of result.outputFiles ?? []) {
    const name = path.basename(file.path);
    const contentType = (bundleFiles as Record<string, string>)[name];
    if (contentType !== undefined) assets.set(name, { contentType, body: Buffer.from(file.contents) });
  }
  return assets;
}

/** The page: a shell that loads the bundle; the title says which view it is. */
export function dashboardHtml(title: string): string {
  const escaped = title.replace(/[<>&"]/g, (character) => `&#${character.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escaped}</title>
<link rel="stylesheet" href="assets/dashboard.css">
</head>
<body>
<div id="app"><p class="loading">Loading the live view...</p></div>
<script type="module" src="assets/dashboard.js"></script>
</body>
</html>
`;
}
