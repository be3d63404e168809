export * from "./types.js";
export { PaxosCore, DEFAULTS } from "./core.js";
export { InvariantError, invariant } from "./invariant.js";
export { SeededRng } from "./rng.js";
