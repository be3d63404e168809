// The znode state machine: ZooKeeper's data model applied from the chosen log, its rows in SQLite or in memory (tables.ts).
export * from "./paths.js";
export * from "./tree.js";
export * from "./watch-log.js";
export * from "./hash.js";
export * from "./acl.js";
export * from "./attrs.js";
export * from "./tables.js";
export * from "./mem-tables.js";
