/**
 * The import-cycle check of `npm run lint` (scripts/check-imports.ts): it reads every kind of
 * relative import, finds each cycle (type-only ones too, and a file importing itself) with a
 * path that names it, passes an acyclic graph, and finds none in this repository.
 */
import { expect } from "chai";
import {
  importCycles, importGraph, relativeImports, resolveImport,
} from "../../scripts/check-imports.js";

describe("check-imports", () => {
  it("reads static, type-only, re-export, bare and dynamic relative imports, and no packages", () => {
    const source = [
      'import { a } from "./a.js";',
      'import type { B } from "../b/b.js";',
      "import {\n  c,\n  d,\n} from './c.js';",
      'export { e } from "./e.js";',
      'export type * from "./f.js";',
      'import "./g.js";',
      'const h = await import("./h.js");',
      'import express from "express";',
      'import { readFileSync } from "node:fs";',
      'import { a as again } from "./a.js";',
    ].join("\n");
    expect(relativeImports(source)).to.deep.equal(
      ["./a.js", "../b/b.js", "./c.js", "./e.js", "./f.js", "./g.js", "./h.js"]);
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

  it("passes a graph without cycles, however deep", () => {
    const chain = new Map(Array.from({ length: 20_000 }, (_, k) =>
      [`f${k}.ts`, k + 1 < 20_000 ? [`f${k + 1}.ts`] : []] as [string, string[]]));
    expect(importCycles(chain)).to.deep.equal([]);
    chain.set("f19999.ts", ["f0.ts"]);
    expect(importCycles(chain)).to.have.length(1);
  });

  it("finds no import cycle in src/, scripts/ and test/", () => {
    const graph = new Map(["src", "scripts", "test"].flatMap((dir) => [...importGraph(dir)]));
    expect(graph.size).to.be.above(300);
    expect(importCycles(graph)).to.deep.equal([]);
  });
});
