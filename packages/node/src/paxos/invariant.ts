// Asserts that stay on in production: a consensus bug must stop the node loudly, never
// corrupt state quietly.

export class InvariantError extends Error {
  override readonly name = "InvariantError";
}

export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(`zk invariant violated: ${message}`);
}
