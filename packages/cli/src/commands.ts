// Every zk-cli command by id (oclif's "explicit" command discovery). One list both for the
// compiled tree (dist/commands/...) and for the bundle bin/run.js loads (scripts/bundle.mjs).
import ClusterDown from "./commands/cluster/down.js";
import ClusterKill from "./commands/cluster/kill.js";
import ClusterRestart from "./commands/cluster/restart.js";
import ClusterStart from "./commands/cluster/start.js";
import ClusterStatus from "./commands/cluster/status.js";
import ClusterStop from "./commands/cluster/stop.js";
import ClusterUp from "./commands/cluster/up.js";
import Delete from "./commands/delete.js";
import Get from "./commands/get.js";
import Propose from "./commands/propose.js";
import Status from "./commands/status.js";

export const COMMANDS = {
  propose: Propose,
  get: Get,
  delete: Delete,
  status: Status,
  "cluster:up": ClusterUp,
  "cluster:down": ClusterDown,
  "cluster:status": ClusterStatus,
  "cluster:kill": ClusterKill,
  "cluster:stop": ClusterStop,
  "cluster:start": ClusterStart,
  "cluster:restart": ClusterRestart,
};
