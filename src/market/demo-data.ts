/**
 * A small demo catalogue for `--demo-data`: twelve items across four areas, so that a new user
 * has something to search and buy. Each entry is a createItem body; demoRequests() gives them
 * fixed requestIds, so loading the catalogue twice within the session TTL applies it once,
 * and later a repeat load gets alreadyExists for each item, which a loader can treat as done.
 */
import type { CreateItemBody, MarketRequest } from "./commands.js";

export const demoCatalogue: readonly CreateItemBody[] = Object.freeze([
  { sku: "apple-1kg", name: "Apples, 1 kg bag", area: "Fruit & Veg", priceCents: 349, stock: 120 },
  { sku: "banana-6", name: "Bananas, bunch of 6", area: "Fruit & Veg", priceCents: 199,
    stock: 80 },
  { sku: "carrot-1kg", name: "Carrots, 1 kg", area: "Fruit & Veg", priceCents: 129, stock: 60 },
  { sku: "avocado-2", name: "Ripe avocados, pack of 2", area: "Fruit & Veg", priceCents: 299,
    stock: 40 },
  { sku: "sourdough-800g", name: "Sourdough loaf, 800 g", area: "Bakery", priceCents: 450,
    stock: 25 },
  { sku: "croissant-4", name: "Butter croissants, pack of 4", area: "Bakery", priceCents: 380,
    stock: 30 },
  { sku: "bagel-6", name: "Plain bagels, pack of 6", area: "Bakery", priceCents: 275, stock: 20 },
  { sku: "milk-1l", name: "Whole milk, 1 l", area: "Dairy", priceCents: 119, stock: 150 },
  { sku: "cheddar-400g", name: "Mature cheddar, 400 g", area: "Dairy", priceCents: 495,
    stock: 35 },
  { sku: "yogurt-500g", name: "Greek yogurt, 500 g", area: "Dairy", priceCents: 249, stock: 45 },
  { sku: "pasta-500g", name: "Spaghetti, 500 g", area: "Pantry", priceCents: 155, stock: 200 },
  { sku: "olive-oil-750ml", name: "Extra virgin olive oil, 750 ml", area: "Pantry",
    priceCents: 899, stock: 18 },
].map((item) => Object.freeze(item)));

/** The demo catalogue as createItem requests with stable requestIds (`demo-data:<sku>`). */
export function demoRequests(): MarketRequest[] {
  return demoCatalogue.map((item) => ({
    kind: "createItem", requestId: `demo-data:${item.sku}`, ...item,
  }));
}
