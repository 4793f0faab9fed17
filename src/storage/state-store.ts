/** The StateStore seam is the market's port (src/market/state-store.ts); storage implements it. */
export * from "../market/state-store.js";
