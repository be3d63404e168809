// zk-node logs pino JSON lines; the foreground `cluster up` shows them readable:
// "n1 12:00:00.123 INFO  became leader role=leader ballot=2.n1".
const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const SKIP = new Set(["level", "time", "node", "msg", "pid", "hostname"]);

export function formatLogLine(nodeId: string, line: string, width = 2): string {
  const id = nodeId.padEnd(width);
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
    if (typeof o !== "object" || o === null) return `${id} ${line}`;
  } catch {
    return `${id} ${line}`;
  }
  const level = (LEVELS[o.level as number] ?? String(o.level ?? "")).padEnd(5);
  const time = typeof o.time === "string" ? o.time.slice(11, 23) : typeof o.time === "number" ? new Date(o.time).toISOString().slice(11, 23) : "";
  const fields = Object.entries(o)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${fieldText(v)}`)
    .join(" ");
  return `${id} ${time} ${level} ${String(o.msg ?? "")}${fields ? " " + fields : ""}`;
}

function fieldText(v: unknown): string {
  if (typeof v === "string") return /[\s"=]/.test(v) || v === "" ? JSON.stringify(v) : v;
  if (v === null || typeof v !== "object") return String(v);
  return JSON.stringify(v);
}
