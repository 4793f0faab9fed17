/**
 * `npx tsx scripts/check-imports.ts [dir...]` (part of `npm run lint`): refuses import cycles
 * between the TypeScript files under the folders given (default src/), taken as one graph.
 * Every relative import counts, type-only
 * ones too: a cycle of types is still two modules that cannot be understood, or moved, one
 * without the other (STYLE.md §9). Prints each cycle as a path of files and exits 1; exits 0,
 * silent, when there is none.
 *
 * Imports are read with a pattern, not a parser: static `import ... from "x"`, `export ... from
 * "x"`, bare `import "x"` and `import("x")` with a literal specifier. Only relative specifiers
 * are followed (packages cannot import us back); `./a.js` names `./a.ts`, as NodeNext writes it.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const specifierPatterns: readonly RegExp[] = [
  // import x from "y"; import { a, b } from "y"; import type {...} from "y"; export ... from "y"
  /(?:^|[\n;])\s*(?:import|export)\s[^"';]*?\sfrom\s*["']([^"']+)["']/g,
  // import "y" (for its effects)
  /(?:^|[\n;])\s*import\s*["']([^"']+)["']/g,
  // import("y")
  /\bimport\(\s*["']([^"']+)["']\s*\)/g,
];

/** The relative specifiers `source` imports, in order of appearance, each once. */
export function relativeImports(source: string): string[] {
  const found = new Map<number, string>();
  for (const pattern of specifierPatterns) {
    for (const match of source.matchAll(pattern)) {
      const specifier = match[1]!;
      if (specifier.startsWith(".")) found.set(match.index, specifier);
    }
  }
  return [...new Set([...found.entries()].sort(([a], [b]) => a - b).map(([, s]) => s))];
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
  if (cycles.length === 0) return;
  for (const cycle of cycles) console.error(`import cycle: ${cycle.join(" -> ")}`);
  console.error(`${cycles.length} import cycle(s) under ${dirs.join(", ")}: move what both ` +
    "sides need into a module of its own, or hand it in as a parameter (STYLE.md §9)");
  process.exitCode = 1;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) ===
  path.resolve(new URL(import.meta.url).pathname)) main();
