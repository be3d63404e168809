// What a node says when its port is taken. A node's --listen is its address in --peers and, once
// its store exists, in its cluster's configuration: "pick another --listen" would be refused
// (--listen must equal the --peers entry) and, for an existing member, cannot be done by a
// restart at all, so the only advice that works for a member is to free the port.

/** One line: the port `listen` (given by `flag`) is taken; `member`: the node is in its cluster's configuration (its store exists, or --rejoin, --join). */
export function portInUseMessage(listen: string, flag: "--listen" | "--zk-listen", member: boolean): string {
  const port = listen.slice(listen.lastIndexOf(":") + 1);
  const stop = `stop whatever holds it (\`ss -ltnp 'sport = :${port}'\` names the process)`;
  const head = `cannot listen on ${listen}: the port is in use; `;
  if (flag === "--zk-listen") return `${head}${stop} or pick another --zk-listen`;
  if (member) return `${head}${stop}: it is this member's address in its cluster's configuration, which its peers dial, so a restart cannot move it`;
  return `${head}${stop} or give this node another port in --listen and in every node's --peers`;
}
