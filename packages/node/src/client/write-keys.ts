// Deduplication keys for writes (SessionRequest.request_key / zk-request-key). A key is unique
// (a random part per client object and a counter) and starts with the time, so keys from
// every client arrive in roughly ascending order: the server's index of recent keys grows
// at its end instead of dirtying a random page per write.
import { randomBytes } from "node:crypto";

export class WriteKeys {
  private readonly prefix = randomBytes(9).toString("base64url");
  private seq = 0;

  next(): string {
    return `${Date.now().toString(36).padStart(9, "0")}.${this.prefix}.${(this.seq++).toString(36)}`;
  }
}
