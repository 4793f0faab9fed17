/** The in-memory StateStore lives beside the seam, in src/market/ (pure: no I/O). */
export * from "../market/memory-state-store.js";
