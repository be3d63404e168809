// Printers (STYLE.md 12-13): data to stdout, one JSON object per line with --json, otherwise
// a readable table or line; diagnostics go to stderr.

export type Cell = string | number | boolean | null | undefined;

export interface Column<R> {
  readonly header: string;
  readonly get: (row: R) => Cell;
  /** Right-align (numbers). */
  readonly right?: boolean;
}

export function formatTable<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const cells = rows.map((r) => columns.map((c) => show(c.get(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (columns[i]!.right ? v.padStart(widths[i]!) : i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join("\n") + "\n";
}

function show(v: Cell): string {
  if (v === null || v === undefined || v === "") return "-";
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}

export function printTable<R>(rows: readonly R[], columns: readonly Column<R>[]): void {
  process.stdout.write(formatTable(rows, columns));
}

export function printJsonLines(objects: readonly unknown[]): void {
  if (objects.length === 0) return;
  process.stdout.write(objects.map((o) => JSON.stringify(o)).join("\n") + "\n");
}

export function printLine(line: string): void {
  process.stdout.write(line + "\n");
}

/** A diagnostic (not an error): stderr, so stdout stays data. */
export function note(line: string): void {
  process.stderr.write(line + "\n");
}
