// Protocol messages between the core's types and the wire (peer.proto). The envelope's
// from/to are the link's; a message that does not decode to something the core knows is
// dropped here, never half-applied.
import type { Ballot as WireBallot, Entry as WireEntry } from "../gen/zk/v1/types.js";
import type { PaxosMessage } from "../gen/zk/v1/peer.js";
import type { Ballot, Entry, Message, NodeId } from "../paxos/types.js";

const ballotOut = (b: Ballot): WireBallot => ({ round: b.round, nodeId: b.nodeId });
const ballotIn = (b: WireBallot | undefined): Ballot => ({ round: b?.round ?? 0, nodeId: b?.nodeId ?? "" });
const entryOut = (e: Entry): WireEntry => ({ slot: e.slot, ballot: ballotOut(e.ballot), command: e.command });
const entryIn = (e: WireEntry): Entry => ({ slot: e.slot, ballot: ballotIn(e.ballot), command: e.command });

export function messageToWire(m: Message): PaxosMessage {
  switch (m.type) {
    case "preVote":
      return { kind: { $case: "preVote", value: { round: m.round, chosen: m.chosen } } };
    case "preVoteReply":
      return { kind: { $case: "preVoteReply", value: { round: m.round, granted: m.granted, promisedRound: m.promisedRound } } };
    case "prepare":
      return { kind: { $case: "prepare", value: { ballot: ballotOut(m.ballot), fromSlot: m.fromSlot, incarnations: { ...m.incarnations } } } };
    case "promise":
      return {
        kind: {
          $case: "promise",
          value: {
            ballot: ballotOut(m.ballot),
            ok: m.ok,
            promised: ballotOut(m.promised),
            entries: m.entries.map(entryOut),
            chosen: m.chosen,
            incarnation: m.incarnation,
            incarnations: { ...m.incarnations },
            recovering: m.recovering,
            logStart: m.logStart,
          },
        },
      };
    case "accept":
      return {
        kind: {
          $case: "accept",
          value: {
            ballot: ballotOut(m.ballot),
            firstSlot: m.firstSlot,
            commands: m.commands as Uint8Array[],
            chosen: m.chosen,
            seq: m.seq,
            yourIncarnation: m.yourIncarnation,
            electionTail: m.electionTail,
            quiet: m.quiet ?? false,
          },
        },
      };
    case "acceptReply":
      return {
        kind: {
          $case: "acceptReply",
          value: {
            ballot: ballotOut(m.ballot),
            ok: m.ok,
            promised: ballotOut(m.promised),
            match: m.match,
            lastSlot: m.lastSlot,
            chosen: m.chosen,
            seq: m.seq,
            incarnation: m.incarnation,
            recovering: m.recovering,
          },
        },
      };
    case "timeoutNow":
      return { kind: { $case: "timeoutNow", value: { ballot: ballotOut(m.ballot) } } };
  }
}

export function messageFromWire(w: PaxosMessage, from: NodeId, to: NodeId): Message | null {
  const k = w.kind;
  if (k === undefined) return null;
  switch (k.$case) {
    case "preVote":
      return { type: "preVote", from, to, round: k.value.round, chosen: k.value.chosen };
    case "preVoteReply":
      return { type: "preVoteReply", from, to, round: k.value.round, granted: k.value.granted, promisedRound: k.value.promisedRound };
    case "prepare":
      return { type: "prepare", from, to, ballot: ballotIn(k.value.ballot), fromSlot: k.value.fromSlot, incarnations: { ...k.value.incarnations } };
    case "promise":
      return {
        type: "promise",
        from,
        to,
        ballot: ballotIn(k.value.ballot),
        ok: k.value.ok,
        promised: ballotIn(k.value.promised),
        entries: k.value.entries.map(entryIn),
        chosen: k.value.chosen,
        incarnation: k.value.incarnation,
        incarnations: { ...k.value.incarnations },
        recovering: k.value.recovering,
        logStart: k.value.logStart || 1,
      };
    case "accept":
      return {
        type: "accept",
        from,
        to,
        ballot: ballotIn(k.value.ballot),
        firstSlot: k.value.firstSlot,
        commands: k.value.commands,
        chosen: k.value.chosen,
        seq: k.value.seq,
        yourIncarnation: k.value.yourIncarnation,
        electionTail: k.value.electionTail,
        quiet: k.value.quiet,
      };
    case "acceptReply":
      return {
        type: "acceptReply",
        from,
        to,
        ballot: ballotIn(k.value.ballot),
        ok: k.value.ok,
        promised: ballotIn(k.value.promised),
        match: k.value.match,
        lastSlot: k.value.lastSlot,
        chosen: k.value.chosen,
        seq: k.value.seq,
        incarnation: k.value.incarnation,
        recovering: k.value.recovering,
      };
    case "timeoutNow":
      return { type: "timeoutNow", from, to, ballot: ballotIn(k.value.ballot) };
    default:
      return null;
  }
}
