/**
 * The second step of `npm run build`: bundles the compiled market-cli (dist/src/cli/) with its
 * dependencies into one file, dist/market-cli.mjs, which bin/market-cli.js runs. A command-line
 * client starts once per command, and Node's ES module loader spends much of that start
 * resolving and reading modules one by one (about 40 ms of 260 on the development machine);
 * one file skips that. market-node is not bundled: it starts once and runs for hours, and
 * lmdb's native binding and pino's transports expect their own files on disk.
 *
 * Plain JavaScript, so that the build needs no tsx. esbuild is a devDependency (tsx uses the
 * same one); its install script is not needed for its JavaScript API (package.json allowScripts).
 */
import { build } from "esbuild";

await build({
  entryPoints: ["dist/src/cli/market-cli.js"],
  outfile: "dist/market-cli.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  logLevel: "warning",
  // commander is CommonJS: inside an ES module bundle its require() calls need a require.
  banner: {
    js: "import { createRequire } from 'node:module'; " +
      "const require = createRequire(import.meta.url);",
  },
});
