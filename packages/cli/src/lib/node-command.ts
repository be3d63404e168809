// The shared shape of `cluster kill|stop|start|restart <node>`.
import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import { commonFlags } from "../base.js";
import { READY_WAIT_MS } from "./cluster-defaults.js";

export const nodeArgs = {
  node: Args.string({ ignoreStdin: true, description: "Member id, e.g. n1", required: true }),
};

export const startFlags = {
  ...commonFlags,
  "wait-ms": Flags.integer({ description: "How long to wait for the node to serve (start) or exit (stop).", default: READY_WAIT_MS, min: 1 }),
};
