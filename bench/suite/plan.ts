/**
 * What a run measures: quick (< 3 min, a smoke test of the whole pipeline) or full (every
 * fleet size, repetitions, well under 25 min on 2 cores). Repetitions are interleaved (rep 1 of
 * every cell, then rep 2, ...) so a load change on the machine hits every saver alike.
 */
import { saverKinds, type CellSpec, type SaverKind } from './types.ts';

export interface Plan {
  mode: 'quick' | 'full';
  savers: SaverKind[];
  messageBytes: number;
  saverThreads: number[];
  saverSteps: number;
  graphThreads: number[];
  graphTurns: number;
  bytesThreads: number;
  bytesAt: number[];
  /** repetitions of the timed cells; fleets above `largeFleet` threads get `repsLarge` */
  reps: number;
  repsLarge: number;
  largeFleet: number;
  /** seconds after which a saver/graph cell starts no new step (reported as capped) */
  capSeconds: number;
  /** a cell still running this long after its cap is killed and reported as failed */
  killAfterSeconds: number;
  /** --pin: every timed cell also runs pinned (client on core 0, servers on core 1) */
  pin: boolean;
  /** BENCH_WORKLOADS (comma list, default all): the workloads to run */
  workloads: Workload[];
}

const workloads = ['graph', 'saver', 'bytes'] as const;
type Workload = (typeof workloads)[number];

export function makePlan(argv: string[], env: NodeJS.ProcessEnv): Plan {
  const quick = argv.includes('--quick');
  const savers = env.BENCH_SAVERS ? (env.BENCH_SAVERS.split(',') as SaverKind[]) : [...saverKinds];
  for (const s of savers) if (!saverKinds.includes(s)) throw new Error(`BENCH_SAVERS: unknown saver ${s} (known: ${saverKinds.join(', ')})`);
  const only = env.BENCH_WORKLOADS ? (env.BENCH_WORKLOADS.split(',') as Workload[]) : [...workloads];
  for (const w of only) if (!workloads.includes(w)) throw new Error(`BENCH_WORKLOADS: unknown workload ${w} (known: ${workloads.join(', ')})`);
  const base = { savers, messageBytes: 400, largeFleet: 200, pin: argv.includes('--pin'), workloads: only };
  const plan: Plan = quick
    ? { ...base, mode: 'quick', saverThreads: [10, 100], saverSteps: 5, graphThreads: [10], graphTurns: 2, bytesThreads: 2, bytesAt: [10, 50], reps: 1, repsLarge: 1, capSeconds: 8, killAfterSeconds: 45 }
    : { ...base, mode: 'full', saverThreads: [10, 100, 200, 1000], saverSteps: 20, graphThreads: [10, 100], graphTurns: 10, bytesThreads: 4, bytesAt: [10, 50, 200], reps: 2, repsLarge: 1, capSeconds: 15, killAfterSeconds: 75 };
  if (env.BENCH_REPS) plan.reps = Number(env.BENCH_REPS);
  return plan;
}

export function cellsOf(plan: Plan): CellSpec[] {
  const cells: CellSpec[] = [];
  const maxReps = Math.max(plan.reps, plan.repsLarge);
  // shared cores first, then pinned, so each pair of figures meets the same load
  const modes = plan.pin ? [false, true] : [false];
  const common = { messageBytes: plan.messageBytes, pauseAt: [] as number[], capSeconds: plan.capSeconds };
  for (let rep = 1; rep <= maxReps; rep++) {
    for (const threads of plan.graphThreads) {
      if (rep > (threads > plan.largeFleet ? plan.repsLarge : plan.reps)) continue;
      for (const pinned of modes) for (const saver of plan.savers) cells.push({ ...common, saver, workload: 'graph', threads, steps: plan.graphTurns, rep, pinned });
    }
    for (const threads of plan.saverThreads) {
      if (rep > (threads > plan.largeFleet ? plan.repsLarge : plan.reps)) continue;
      for (const pinned of modes) for (const saver of plan.savers) cells.push({ ...common, saver, workload: 'saver', threads, steps: plan.saverSteps, rep, pinned });
    }
  }
  // storage is deterministic: one repetition
  for (const saver of plan.savers) {
    cells.push({ saver, workload: 'bytes', threads: plan.bytesThreads, steps: Math.max(...plan.bytesAt), rep: 1, messageBytes: plan.messageBytes, pauseAt: plan.bytesAt, capSeconds: 1e9 });
  }
  return cells.filter((c) => plan.workloads.includes(c.workload));
}
