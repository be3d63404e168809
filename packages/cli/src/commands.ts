// Every zk-cli command by id (oclif's "explicit" command discovery). One list both for the
// compiled tree (dist/commands/...) and for the bundle bin/run.js loads (scripts/bundle.mjs).
import AclGet from "./commands/acl/get.js";
import AclSet from "./commands/acl/set.js";
import BenchFailover from "./commands/bench/failover.js";
import BenchGet from "./commands/bench/get.js";
import BenchMixed from "./commands/bench/mixed.js";
import BenchPut from "./commands/bench/put.js";
import ClusterAddNode from "./commands/cluster/add-node.js";
import ClusterDown from "./commands/cluster/down.js";
import ClusterKill from "./commands/cluster/kill.js";
import ClusterRemoveNode from "./commands/cluster/remove-node.js";
import ClusterRestart from "./commands/cluster/restart.js";
import ClusterStart from "./commands/cluster/start.js";
import ClusterStatus from "./commands/cluster/status.js";
import ClusterStop from "./commands/cluster/stop.js";
import ClusterUp from "./commands/cluster/up.js";
import Create from "./commands/create.js";
import Delete from "./commands/delete.js";
import Elect from "./commands/elect.js";
import ElectionsWatch from "./commands/elections/watch.js";
import Get from "./commands/get.js";
import Inspect from "./commands/inspect.js";
import LeaderTransfer from "./commands/leader/transfer.js";
import Lock from "./commands/lock.js";
import Ls from "./commands/ls.js";
import MemberAdd from "./commands/member/add.js";
import MemberList from "./commands/member/list.js";
import MemberPromote from "./commands/member/promote.js";
import MemberRemove from "./commands/member/remove.js";
import Propose from "./commands/propose.js";
import SetCommand from "./commands/set.js";
import SnapshotRestore from "./commands/snapshot/restore.js";
import SnapshotSave from "./commands/snapshot/save.js";
import SnapshotStatus from "./commands/snapshot/status.js";
import Stat from "./commands/stat.js";
import Status from "./commands/status.js";
import Txn from "./commands/txn.js";
import Watch from "./commands/watch.js";

export const COMMANDS = {
  propose: Propose,
  get: Get,
  delete: Delete,
  create: Create,
  set: SetCommand,
  ls: Ls,
  stat: Stat,
  "acl:get": AclGet,
  "acl:set": AclSet,
  watch: Watch,
  txn: Txn,
  lock: Lock,
  elect: Elect,
  status: Status,
  "cluster:up": ClusterUp,
  "cluster:down": ClusterDown,
  "cluster:status": ClusterStatus,
  "cluster:kill": ClusterKill,
  "cluster:stop": ClusterStop,
  "cluster:start": ClusterStart,
  "cluster:restart": ClusterRestart,
  "cluster:add-node": ClusterAddNode,
  "cluster:remove-node": ClusterRemoveNode,
  "member:list": MemberList,
  "member:add": MemberAdd,
  "member:promote": MemberPromote,
  "member:remove": MemberRemove,
  "leader:transfer": LeaderTransfer,
  "elections:watch": ElectionsWatch,
  inspect: Inspect,
  "snapshot:save": SnapshotSave,
  "snapshot:status": SnapshotStatus,
  "snapshot:restore": SnapshotRestore,
  "bench:put": BenchPut,
  "bench:get": BenchGet,
  "bench:mixed": BenchMixed,
  "bench:failover": BenchFailover,
};
