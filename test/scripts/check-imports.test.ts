/**
 * The import checks of `npm run lint` (scripts/check-imports.ts): it reads every kind of
 * relative import, finds each cycle (type-only ones too, and a file importing itself) with a
 * path that names it, passes an acyclic graph, refuses an import against the layers unless it
 * is a listed exception, names an exception no longer used, and finds nothing wrong in this
 * repository.
 */
import { expect } from "chai";
import {
  importCycles, importGraph, layerLeaks, relativeImports, resolveImport, staleExceptions,
} from "../../scripts/check-imports.js";

describe("check-imports", () => {
  it("reads static, type-only, re-export, bare and dynamic relative imports, and no packages, " +
    "comments or strings", () => {
    const source = [
      'import { a } from "./a.js";',
      'import type { B } from "../b/b.js";',
      "import {\n  c, // not d: import { d } from \"./d.js\"\n  e,\n} from './c.js';",
      'export { e } from "./e.js";',
      'export * from "./f.js";',
      'import g, { gg } from "./g.js";',
      'import * as h from "./h.js";',
      'import "./i.js";',
      'const j = await import("./j.js");',
      '// import { k } from "./k.js";',
      '/** export { l } from "./l.js"; */',
      'const m = `import "./m.js"`;',
      "const n = 'export * from \"./n.js\"';",
      'import express from "express";',
      'import { readFileSync } from "node:fs";',
      'import { a as again } from "./a.js";',
    ].join("\n");
    expect(relativeImports(source)).to.deep.equal(
      ["./a.js", "../b/b.js", "./c.js", "./e.js", "./f.js", "./g.js", "./h.js", "./i.js",
        "./j.js"]);
  });

  it("resolves a NodeNext .js specifier to the .ts file beside or above", () => {
    expect(resolveImport("src/raft/leader.ts", "./raft.js")).to.equal("src/raft/raft.ts");
    expect(resolveImport("src/cli/x.ts", "../client/index.js")).to.equal("src/client/index.ts");
  });

  it("finds a cycle through three files, as a path from its first file back to it", () => {
    const graph = new Map([
      ["b.ts", ["c.ts"]], ["c.ts", ["a.ts", "d.ts"]], ["a.ts", ["b.ts"]], ["d.ts", []],
    ]);
    expect(importCycles(graph)).to.deep.equal([["a.ts", "b.ts", "c.ts", "a.ts"]]);
  });

  it("finds each tangle once, and a file that imports itself", () => {
    const graph = new Map([
      ["a.ts", ["b.ts"]], ["b.ts", ["a.ts", "c.ts"]], ["c.ts", ["d.ts"]], ["d.ts", ["c.ts"]],
      ["e.ts", ["e.ts"]], ["f.ts", ["a.ts", "outside.ts"]],
    ]);
    expect(importCycles(graph)).to.deep.equal([
      ["a.ts", "b.ts", "a.ts"], ["c.ts", "d.ts", "c.ts"], ["e.ts", "e.ts"]]);
  });

  it("finds a tangle that a later file leads into, and one of its own beside it", () => {
    // c is reached from a's tangle being finished: a Tarjan without its on-stack check would
    // fold c and d into a's group and report one cycle.
    const graph = new Map([
      ["a.ts", ["b.ts"]], ["b.ts", ["a.ts"]], ["c.ts", ["a.ts", "d.ts"]], ["d.ts", ["c.ts"]],
    ]);
    expect(importCycles(graph)).to.deep.equal([["a.ts", "b.ts", "a.ts"], ["c.ts", "d.ts", "c.ts"]]);
  });

  it("passes a graph without cycles, however deep", () => {
    const chain = new Map(Array.from({ length: 20_000 }, (_, k) =>
      [`f${k}.ts`, k + 1 < 20_000 ? [`f${k + 1}.ts`] : []] as [string, string[]]));
    expect(importCycles(chain)).to.deep.equal([]);
    chain.set("f19999.ts", ["f0.ts"]);
    expect(importCycles(chain)).to.have.length(1);
  });

  it("refuses an import against the layers, not one the rules or an exception allow", () => {
    const rules = { raft: [], node: ["raft"], api: ["node"] };
    const graph = new Map([
      ["src/raft/raft.ts", ["src/raft/log.ts", "src/node/raft-server.ts"]],
      ["src/node/raft-server.ts", ["src/raft/raft.ts"]],
      ["src/api/routes.ts", ["src/node/raft-server.ts", "src/raft/raft.ts", "src/api/x.ts"]],
      ["src/other/tool.ts", ["src/raft/raft.ts"]],
      ["test/raft.test.ts", ["src/api/routes.ts"]],
    ]);
    expect(layerLeaks(graph, rules, new Set())).to.deep.equal([
      "src/api/routes.ts -> src/raft/raft.ts",
      "src/other/tool.ts -> src/raft/raft.ts",
      "src/raft/raft.ts -> src/node/raft-server.ts",
    ]);
    const allowed = new Set(["src/api/routes.ts -> src/raft/raft.ts",
      "src/api/routes.ts -> src/node/gone.ts"]);
    expect(layerLeaks(graph, rules, allowed)).to.deep.equal([
      "src/other/tool.ts -> src/raft/raft.ts",
      "src/raft/raft.ts -> src/node/raft-server.ts",
    ]);
    expect(staleExceptions(graph, allowed)).to.deep.equal(["src/api/routes.ts -> src/node/gone.ts"]);
  });

  it("finds no import cycle in src/, scripts/ and test/, no import against the layers, and " +
    "no stale exception", () => {
    const graph = new Map(["src", "scripts", "test"].flatMap((dir) => [...importGraph(dir)]));
    expect(graph.size).to.be.above(300);
    expect(importCycles(graph)).to.deep.equal([]);
    expect(layerLeaks(graph)).to.deep.equal([]);
    expect(staleExceptions(graph)).to.deep.equal([]);
  });
});
