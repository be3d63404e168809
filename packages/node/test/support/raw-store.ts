// A store file left as an older zk-node wrote it: the migrations up to `schema` only, with
// the identity meta rows, for tests of what opening it with this build migrates.
import Database from "better-sqlite3";
import { MIGRATIONS, ZK_APPLICATION_ID } from "../../src/storage/index.js";

export function rawStoreAtSchema(file: string, schema: number, id: { clusterId: string; nodeId: string }): Database.Database {
  const raw = new Database(file);
  raw.pragma("journal_mode = WAL");
  raw.pragma(`application_id = ${ZK_APPLICATION_ID}`);
  for (const m of MIGRATIONS.slice(0, schema)) m(raw);
  raw.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(schema);
  raw.prepare("INSERT INTO meta (key, value) VALUES ('cluster_id', ?), ('node_id', ?)").run(id.clusterId, id.nodeId);
  return raw;
}
