/**
 * The items in the heap, a mirror of the store's items table kept so that the reads the API
 * serves and the buys are cheap: by sku in a Map, in sku order in a sorted array (searches walk
 * it and stop at their limit), and the item count per area. Items are frozen records; a change
 * of stock replaces the record. Bounded by MarketConfig.itemsMax.
 */
import { assert, InvariantError } from "./assert.js";
import { compareCodeUnits } from "./canonical.js";
import { marketLimits, type Item } from "./model.js";

/** A search; every filter is optional. See MarketStateMachine.searchItems. */
export interface SearchQuery {
  /** Matches when the sku or the name contains it, ignoring case. */
  readonly q?: string;
  /** Matches the item's area exactly, ignoring case. */
  readonly area?: string;
  /** When true, only items with stock > 0. */
  readonly inStock?: boolean;
  /** At most this many items: default searchLimitDefault, at most searchLimitMax. */
  readonly limit?: number;
}

export class Catalogue {
  private readonly items = new Map<string, Item>();
  /** Invariant: exactly the keys of `items`, sorted by code unit, without duplicates. */
  private readonly skusSorted: string[] = [];
  /** Invariant: per area, the number of items in it; an area with no item has no entry. */
  private readonly itemCountByArea = new Map<string, number>();

  get size(): number {
    return this.items.size;
  }

  get(sku: string): Item | undefined {
    return this.items.get(sku);
  }

  /** Adds an item whose sku is new. */
  insert(item: Item): void {
    assert(!this.items.has(item.sku), `catalogue: sku ${item.sku} already present`);
    this.items.set(item.sku, Object.freeze({ ...item }));
    this.skusSorted.splice(this.insertionPoint(item.sku), 0, item.sku);
    this.itemCountByArea.set(item.area, (this.itemCountByArea.get(item.area) ?? 0) + 1);
    assert(this.skusSorted.length === this.items.size, "catalogue: sorted skus out of step");
  }

  /** Replaces an item with a new version of it: same sku, name and area. */
  replace(item: Item): Item {
    const previous = this.items.get(item.sku);
    if (previous === undefined) {
      throw new InvariantError(`catalogue: replacing unknown sku ${item.sku}`);
    }
    assert(previous.area === item.area && previous.name === item.name,
      "catalogue: only stock and price change in place");
    const frozen = Object.freeze({ ...item });
    this.items.set(item.sku, frozen);
    return frozen;
  }

  /** Matching items in sku order, at most `query.limit` (clamped to searchLimitMax). */
  search(query: SearchQuery): Item[] {
    const limit = Math.min(query.limit ?? marketLimits.searchLimitDefault,
      marketLimits.searchLimitMax);
    assert(Number.isSafeInteger(limit) && limit >= 1, `search: bad limit ${limit}`);
    const text = query.q?.toLowerCase() ?? "";
    const area = query.area?.toLowerCase();
    const found: Item[] = [];
    for (const sku of this.skusSorted) {
      if (found.length >= limit) break;
      const item = this.items.get(sku)!;
      if (query.inStock === true && item.stock === 0) continue;
      if (area !== undefined && item.area.toLowerCase() !== area) continue;
      if (text !== "" && !item.sku.toLowerCase().includes(text) &&
        !item.name.toLowerCase().includes(text)) continue;
      found.push(item);
    }
    return found;
  }

  /** The areas that hold at least one item, sorted by code unit. */
  areas(): string[] {
    return [...this.itemCountByArea.keys()].sort(compareCodeUnits);
  }

  /** Every item in sku order: the canonical order of a snapshot. */
  list(): Item[] {
    return this.skusSorted.map((sku) => this.items.get(sku)!);
  }

  /** Where `sku` goes in skusSorted: the first position whose sku is greater (binary search). */
  private insertionPoint(sku: string): number {
    let low = 0;
    let high = this.skusSorted.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.skusSorted[middle]! < sku) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
