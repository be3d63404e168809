// The project's main job until the daemon exists: a simulated 3-node cluster of real
// protocol cores elects a leader, chooses proposals, loses its leader, elects another,
// and keeps choosing, printed as a readable trace.
import { runSeed } from "../test/sim/simulator.js";

// A closed pipe (`| head`) ends the run quietly.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

const r = runSeed({
  seed: 7,
  nodes: 3,
  faults: "demo",
  faultTicks: 120,
  healTicks: 200,
  trace: (line) => process.stdout.write(line + "\n"),
});
process.stdout.write(
  `\n${r.elections} elections, ${r.chosen} slots chosen, ${r.acknowledged}/${r.proposals} proposals acknowledged, ` +
    `${r.violation ? `VIOLATION: ${r.violation.message}` : "no violations"}\n`,
);
process.exitCode = r.violation ? 1 : 0;
