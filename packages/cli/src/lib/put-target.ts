// Where `propose --stdin` sends its writes: one Session stream (ZkSession), which pipelines
// requests on an open stream and costs far less CPU per write than a unary call each
// (DESIGN.md "The client protocol"), with the unary client behind it for what the session
// cannot take.
import type { PutResponse, ZkClient, ZkSession } from "@zk/node/client";
import type { PutTarget } from "./propose.js";

/** How often one write waits for the session to reconnect before taking the unary path. */
const RECONNECT_WAITS_MAX = 3;

export interface BulkTarget {
  readonly target: PutTarget;
  close(): Promise<void>;
}

/** A session for bulk writes, or the unary client when no session can be opened. */
export async function openBulkTarget(client: ZkClient, timeoutMs: number): Promise<BulkTarget> {
  const { ZkSession, ErrorCode } = await import("@zk/node/client");
  let session: ZkSession;
  try {
    session = await ZkSession.open({ endpoints: client.endpoints, timeoutMs, auth: client.credentials });
  } catch {
    // No session (e.g. no node reachable yet): unary calls report per line what is wrong.
    return { target: client, close: async () => undefined };
  }

  // When the stream breaks, the session reconnects (possibly trying several nodes). New
  // writes wait for that instead of being sent into a stream that is still being opened:
  // requests written to an attempt the session then abandons are never answered and would
  // only time out (see the report on ZkSession.connect).
  let expired = false;
  let gate: Promise<void> | null = null;
  let openGate: (() => void) | null = null;
  const closeGate = () => {
    if (gate || expired) return;
    gate = new Promise<void>((resolve) => {
      const timer = setTimeout(() => release(), timeoutMs);
      openGate = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  };
  const release = () => {
    const o = openGate;
    gate = null;
    openGate = null;
    o?.();
  };
  session.on("reconnected", release);
  session.on("expired", () => {
    expired = true;
    release();
  });

  const put = (path: string, data: Uint8Array, waits = 0): Promise<PutResponse> => {
    if (expired || waits > RECONNECT_WAITS_MAX) return client.put(path, data);
    if (gate) return gate.then(() => put(path, data, waits + 1));
    return session.put(path, data).catch((e: { code?: number; message?: string }) => {
      if (e.code === ErrorCode.SESSION_EXPIRED) {
        expired = true;
        return client.put(path, data);
      }
      if (e.code === ErrorCode.UNAVAILABLE) {
        closeGate();
        // Only a write that never left is sent again; one that was in flight when the
        // stream broke may have been applied: it is reported, not repeated.
        if (/^not connected/.test(e.message ?? "")) return put(path, data, waits);
      }
      throw e;
    });
  };

  return {
    // Missing parents (rare) are created through the unary client.
    target: { put, create: (path, data) => client.create(path, data) },
    close: async () => {
      try {
        await session.close();
      } catch {
        session.abandon();
      }
    },
  };
}
