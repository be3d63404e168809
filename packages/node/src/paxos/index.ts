export * from "./types.js";
export { PaxosCore, DEFAULTS, ACCEPT_AHEAD_SLOTS_MAX } from "./core.js";
export { InvariantError, invariant } from "./invariant.js";
export { SeededRng } from "./rng.js";
export * from "./config.js";
