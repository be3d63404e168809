// The acceptor store seam and its two implementations: SQLite for real nodes, memory for the
// simulator.
export * from "./store.js";
export * from "./sqlite-store.js";
export * from "./mem-store.js";
export * from "./snapshot.js";
