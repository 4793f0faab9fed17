/**
 * `npx tsx scripts/check-imports.ts [dir...]` (part of `npm run lint`): refuses import cycles
 * between the TypeScript files under the folders given (default src/), taken as one graph,
 * and, in src/, an import that goes against the layers (layerImports below). Every relative
 * import counts, type-only ones too: a cycle of types is still two modules that cannot be
 * understood, or moved, one without the other (STYLE.md §9). Prints each cycle as a path of
 * files (one per tangle of files that import each other: break it, and the next shows) and
 * each leak as the import, and exits 1; exits 0, silent, when there is none.
 *
 * Imports are read by TypeScript's own scanner (ts.preProcessFile): static imports and
 * re-exports, bare `import "x"` and `import("x")` with a literal specifier, and nothing in a
 * comment or a string. Only relative specifiers are followed (packages cannot import us back);
 * `./a.js` names `./a.ts`, as NodeNext writes it.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** The relative specifiers `source` imports, in order of appearance, each once. */
export function relativeImports(source: string): string[] {
  const { importedFiles } = ts.preProcessFile(source, true, true);
  return [...new Set(importedFiles.map((file) => file.fileName)
    .filter((specifier) => specifier.startsWith(".")))];
}

/** The file a relative specifier in `fromFile` names (`.js` read as `.ts`). */
export function resolveImport(fromFile: string, specifier: string): string {
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(fromFile), specifier));
  return target.endsWith(".js") ? `${target.slice(0, -3)}.ts` : target;
}

/**
 * The import cycles of a graph (file -> files it imports): one per strongly connected group of
 * two or more files, or a file importing itself, each as a path that starts and ends at the
 * same file, smallest file name first. Edges to files outside the graph are ignored.
 */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  // Tarjan's algorithm, iterative: a long chain of imports must not overflow the stack.
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  let next = 0;
  for (const root of [...graph.keys()].sort()) {
    if (order.has(root)) continue;
    const work: { file: string; edge: number }[] = [{ file: root, edge: 0 }];
    order.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work.at(-1)!;
      const targets = (graph.get(frame.file) ?? []).filter((target) => graph.has(target));
      if (frame.edge < targets.length) {
        const target = targets[frame.edge++]!;
        if (!order.has(target)) {
          order.set(target, next);
          low.set(target, next++);
          stack.push(target);
          onStack.add(target);
          work.push({ file: target, edge: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.file, Math.min(low.get(frame.file)!, order.get(target)!));
        }
        continue;
      }
      work.pop();
      const parent = work.at(-1);
      if (parent !== undefined) {
        low.set(parent.file, Math.min(low.get(parent.file)!, low.get(frame.file)!));
      }
      if (low.get(frame.file) !== order.get(frame.file)) continue;
      const group: string[] = [];
      for (;;) {
        const member = stack.pop()!;
        onStack.delete(member);
        group.push(member);
        if (member === frame.file) break;
      }
      const selfImport = (graph.get(frame.file) ?? []).includes(frame.file);
      if (group.length > 1 || selfImport) groups.push(group.sort());
    }
  }
  return groups.map((group) => cyclePath(graph, group)).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** A shortest path from the group's first file back to itself, through the group only. */
function cyclePath(graph: ReadonlyMap<string, readonly string[]>, group: readonly string[]):
  string[] {
  const members = new Set(group);
  const start = group[0]!;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const target of graph.get(file) ?? []) {
      if (!members.has(target)) continue;
      if (target === start) {
        const path = [start];
        for (let at = file; at !== start; at = cameFrom.get(at)!) path.unshift(at);
        path.unshift(start);
        return path;
      }
      if (cameFrom.has(target)) continue;
      cameFrom.set(target, file);
      queue.push(target);
    }
  }
  return [...group, start];
}

/**
 * The folders of src/ and the folders each may import (docs/DESIGN.md, "Layers"), no more than
 * they use, so that a new dependency between folders is a decision made here. At the top cli/,
 * launcher/ and sim/; the launcher serves dashboard/, which uses cluster/; then api/ and
 * client/; api/ over node/, which drives raft/, storage/, transport/ and market/; wire/ (what
 * the API, the client and the nodes speak over HTTP) under api/, client/, node/ and
 * transport/; invariant/ under everything. A folder missing here may import nothing outside
 * itself.
 */
export const layerImports: Readonly<Record<string, readonly string[]>> = {
  invariant: [],
  raft: ["invariant"],
  market: ["invariant"],
  wire: ["raft", "invariant"],
  transport: ["wire", "raft", "invariant"],
  storage: ["raft", "market", "invariant"],
  node: ["wire", "raft", "market", "storage", "transport", "invariant"],
  api: ["wire", "node", "raft", "market", "invariant"],
  client: ["wire", "market", "invariant"],
  verify: ["raft", "invariant"],
  cluster: ["node", "wire", "raft", "verify", "invariant"],
  dashboard: ["cluster", "api", "client", "node", "wire", "raft", "invariant"],
  launcher: ["dashboard", "cluster", "api", "wire", "raft", "market", "storage", "invariant"],
  cli: ["dashboard", "cluster", "api", "client", "node", "wire", "raft", "market", "storage",
    "transport", "invariant"],
  sim: ["cli", "api", "node", "wire", "raft", "market", "storage", "transport", "verify",
    "invariant"],
};

/**
 * Imports against the layers that are known and not yet moved (STYLE.md §9), each exactly as
 * "src/a/x.ts -> src/b/y.ts": a new one fails like any other. None today.
 */
export const layerExceptions: ReadonlySet<string> = new Set<string>([]);

/**
 * The imports of a graph of src/ files that go against `rules` (folder -> the folders it may
 * import), as "from -> to", except those in `exceptions`. Files outside src/ have no rules.
 */
export function layerLeaks(graph: ReadonlyMap<string, readonly string[]>,
  rules: Readonly<Record<string, readonly string[]>> = layerImports,
  exceptions: ReadonlySet<string> = layerExceptions): string[] {
  const folderOf = (file: string): string | null => /^src\/([^/]+)\//.exec(file)?.[1] ?? null;
  const leaks: string[] = [];
  for (const [file, targets] of graph) {
    const from = folderOf(file);
    if (from === null) continue;
    for (const target of targets) {
      const to = folderOf(target);
      if (to === null || to === from || (rules[from] ?? []).includes(to)) continue;
      const edge = `${file} -> ${target}`;
      if (!exceptions.has(edge)) leaks.push(edge);
    }
  }
  return leaks.sort();
}

/** The exceptions that no import of `graph` uses any more: to be removed from the list. */
export function staleExceptions(graph: ReadonlyMap<string, readonly string[]>,
  exceptions: ReadonlySet<string> = layerExceptions): string[] {
  const edges = new Set([...graph].flatMap(([file, targets]) =>
    targets.map((target) => `${file} -> ${target}`)));
  return [...exceptions].filter((edge) => !edges.has(edge)).sort();
}

/** The TypeScript files under `dir` (relative to the working directory), sorted. */
function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => path.posix.join(entry.parentPath.split(path.sep).join("/"), entry.name))
    .sort();
}

/** The import graph of the files under `dir`. */
export function importGraph(dir: string): Map<string, string[]> {
  return new Map(typeScriptFiles(dir).map((file) => [file,
    relativeImports(readFileSync(file, "utf8")).map((specifier) => resolveImport(file, specifier))]));
}

function main(): void {
  const dirs = process.argv.length > 2 ? process.argv.slice(2) : ["src"];
  const graph = new Map(dirs.flatMap((dir) => [...importGraph(dir)]));
  const cycles = importCycles(graph);
  for (const cycle of cycles) console.error(`import cycle: ${cycle.join(" -> ")}`);
  if (cycles.length > 0) {
    console.error(`${cycles.length} import cycle(s) under ${dirs.join(", ")}: move what both ` +
      "sides need into a module of its own, or hand it in as a parameter (STYLE.md §9)");
  }
  const leaks = layerLeaks(graph);
  for (const leak of leaks) console.error(`import against the layers: ${leak}`);
  if (leaks.length > 0) {
    console.error(`${leaks.length} import(s) against the layers: a folder of src/ may import ` +
      "only those below it (scripts/check-imports.ts, layerImports; docs/DESIGN.md, Layers)");
  }
  // Only when src/ is read: the exceptions are imports of src/.
  const stale = dirs.includes("src") ? staleExceptions(graph) : [];
  for (const edge of stale) {
    console.error(`no longer imported, remove it from layerExceptions: ${edge}`);
  }
  if (cycles.length > 0 || leaks.length > 0 || stale.length > 0) process.exitCode = 1;
}

if (process.argv[1] !== undefined &&
  path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
