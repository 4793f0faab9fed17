/**
 * The planted bugs of `npm run plants` (issue 11) must keep applying as the code moves: each
 * edit finds its text exactly once, so that a plant never silently plants nothing.
 */
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { plants } from "../../scripts/plant-list.js";

describe("npm run plants: the planted bugs", () => {
  it("lists the seven bugs of issue 11, each with a distinct name", () => {
    expect(new Set(plants.map((plant) => plant.name)).size).to.equal(7);
  });

  for (const plant of plants) {
    it(`${plant.name}: every edit finds its text exactly once, and changes it`, () => {
      for (const edit of plant.edits) {
        const text = readFileSync(edit.file, "utf8");
        expect(text.split(edit.from).length - 1, `${edit.file}: ${edit.from}`).to.equal(1);
        expect(text.includes(edit.to), `${edit.file} already holds the planted text`).to.equal(false);
        expect(edit.to).to.not.equal(edit.from);
      }
    });
  }
});
