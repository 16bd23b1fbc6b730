/**
 * Repetitions → one row per (workload, saver, size) with medians, ratios against every peer
 * of the same run, and the targets evaluated on those rows.
 */
import { median } from './stats.ts';
import { saverLabels, type CellResult, type Quantiles, type SaverKind, type StorageSample, type WorkloadKind } from './types.ts';

export interface Row {
  workload: WorkloadKind;
  saver: SaverKind;
  threads: number;
  steps: number;
  /** client on its own core, servers on the other (--pin) */
  pinned: boolean;
  reps: number;
  /** steps or turns done in a repetition (median) */
  ops: number;
  opsPerSec: number;
  /** every repetition's ops/s, in run order */
  opsPerSecReps: number[];
  put?: Quantiles;
  putWrites?: Quantiles;
  getTuple?: Quantiles;
  list?: Quantiles;
  lag?: Quantiles;
  peakRssBytes: number;
  projectorPeakRssBytes?: number;
  mismatches: number;
  storage?: StorageSample[];
  /** some repetition hit the time cap (ops/s is then over the steps done in the cap) */
  capped: boolean;
  /** median CPU seconds per process group over a repetition, and per 1,000 ops */
  cpuSeconds: Record<string, number>;
  projector?: { batches: number; meanBatchMs: number; eventsPerBatch: number };
  /** repetitions that failed, with why */
  errors: string[];
  /** this row's ops/s divided by each peer's in the same cell */
  ratios: Partial<Record<SaverKind, number>>;
}

const medQ = (qs: Array<Quantiles | undefined>): Quantiles | undefined => {
  const xs = qs.filter((q): q is Quantiles => q !== undefined);
  if (xs.length === 0) return undefined;
  return { n: xs.reduce((a, q) => a + q.n, 0), p50: median(xs.map((q) => q.p50)), p99: median(xs.map((q) => q.p99)) };
};

export function aggregate(results: CellResult[]): Row[] {
  const groups = new Map<string, CellResult[]>();
  for (const r of results) {
    const k = `${r.spec.workload}/${r.spec.saver}/${r.spec.threads}/${r.spec.steps}/${r.spec.pinned === true}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const rows: Row[] = [...groups.values()].map((all) => {
    const s = all[0]!.spec;
    const errors = [
      ...all.filter((r) => r.error).map((r) => r.error!.split('\n')[0]!),
      ...all.filter((r) => r.failedThreads).map((r) => `${r.failedThreads!.count} thread(s) stopped: ${r.failedThreads!.messages.join(' / ')}`),
    ];
    const rs = all.filter((r) => !r.error);
    const projectorPeak = rs.map((r) => r.projectorPeakRssBytes).filter((x): x is number => x !== undefined);
    const row: Row = {
      workload: s.workload,
      saver: s.saver,
      threads: s.threads,
      steps: s.steps,
      pinned: s.pinned === true,
      reps: rs.length,
      ops: median(rs.map((r) => r.ops)),
      opsPerSec: median(rs.map((r) => r.opsPerSec)),
      opsPerSecReps: rs.map((r) => r.opsPerSec),
      peakRssBytes: median(rs.map((r) => r.peakRssBytes)),
      mismatches: rs.reduce((a, r) => a + r.mismatches, 0),
      capped: rs.some((r) => r.capped),
      cpuSeconds: {},
      errors,
      ratios: {},
    };
    for (const k of new Set(rs.flatMap((r) => Object.keys(r.cpuSeconds ?? {})))) row.cpuSeconds[k] = median(rs.map((r) => r.cpuSeconds?.[k] ?? Number.NaN));
    const pm = rs.map((r) => r.projector).filter((p) => p !== undefined);
    if (pm.length > 0) row.projector = { batches: median(pm.map((p) => p.batches)), meanBatchMs: median(pm.map((p) => p.meanBatchMs)), eventsPerBatch: median(pm.map((p) => p.eventsPerBatch)) };
    for (const key of ['put', 'putWrites', 'getTuple', 'list', 'lag'] as const) {
      const q = medQ(rs.map((r) => r[key]));
      if (q) row[key] = q;
    }
    if (projectorPeak.length > 0) row.projectorPeakRssBytes = median(projectorPeak);
    const storage = rs.find((r) => r.storage)?.storage;
    if (storage) row.storage = storage;
    return row;
  });
  for (const row of rows) {
    for (const peer of rows) {
      if (peer.workload === row.workload && peer.threads === row.threads && peer.steps === row.steps && peer.pinned === row.pinned && peer.saver !== row.saver) {
        row.ratios[peer.saver] = row.opsPerSec / peer.opsPerSec;
      }
    }
  }
  return rows;
}

export interface Target {
  name: string;
  /** 'met' | 'missed' | 'not measured' (a size or saver this run did not include) */
  status: 'met' | 'missed' | 'not measured';
  detail: string;
}

const x = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? 'n/a' : `${n.toFixed(2)}x`);

export function evaluateTargets(rows: Row[]): Target[] {
  // shared-core rows, except where a target names the pinned mode
  const find = (w: WorkloadKind, saver: SaverKind, threads?: number, pinned = false): Row | undefined =>
    rows.find((r) => r.workload === w && r.saver === saver && (threads === undefined || r.threads === threads) && r.pinned === pinned);
  const targets: Target[] = [];
  const judge = (name: string, checks: Array<[number | undefined, (v: number) => boolean, string]>): void => {
    if (checks.some(([v]) => v === undefined || !Number.isFinite(v))) {
      targets.push({ name, status: 'not measured', detail: checks.map(([v, , l]) => `${l} ${x(v)}`).join(', ') });
      return;
    }
    const ok = checks.every(([v, f]) => f(v!));
    targets.push({ name, status: ok ? 'met' : 'missed', detail: checks.map(([v, f, l]) => `${l} ${x(v)}${f(v!) ? '' : ' ✗'}`).join(', ') });
  };
  for (const threads of [200, 1000]) {
    const ours = find('saver', 'threadlog', threads);
    judge(`saver level, ${threads} threads: ≥10x ${saverLabels.postgres} and ${saverLabels.mongodb}, ≥1x ${saverLabels.memory}`, [
      [ours?.ratios.postgres, (v) => v >= 10, 'vs Postgres'],
      [ours?.ratios.mongodb, (v) => v >= 10, 'vs MongoDB'],
      [ours?.ratios.memory, (v) => v >= 1, 'vs Memory'],
    ]);
  }
  const graphSizes = [...new Set(rows.filter((r) => r.workload === 'graph').map((r) => r.threads))];
  const gThreads = graphSizes.includes(100) ? 100 : Math.max(...graphSizes);
  const gPinned = find('graph', 'threadlog', gThreads, true);
  const g = gPinned ?? find('graph', 'threadlog', gThreads);
  judge(`graph fleet, ${gThreads} threads${gPinned ? ', client pinned' : ''}: ≥0.9x ${saverLabels.memory}, ≥2x ${saverLabels.postgres}`, [
    [g?.ratios.memory, (v) => v >= 0.9, 'vs Memory'],
    [g?.ratios.postgres, (v) => v >= 2, 'vs Postgres'],
  ]);
  const bytesOf = (saver: SaverKind): StorageSample | undefined => {
    const st = find('bytes', saver)?.storage ?? [];
    return st.reduce<StorageSample | undefined>((a, b) => (a === undefined || b.steps > a.steps ? b : a), undefined);
  };
  const ob = bytesOf('threadlog');
  const share = (peer: SaverKind): number | undefined => {
    const p = bytesOf(peer);
    return ob?.bytesPerStep !== undefined && p?.bytesPerStep !== undefined && p.steps === ob.steps ? ob.bytesPerStep / p.bytesPerStep : undefined;
  };
  const steps = ob?.steps ?? 200;
  judge(`bytes/step at ${steps} steps (projection) < 10% of ${saverLabels.mongodb}'s and ${saverLabels.postgres}'s`, [
    [share('mongodb'), (v) => v < 0.1, 'share of MongoDB'],
    [share('postgres'), (v) => v < 0.1, 'share of Postgres'],
  ]);
  const p99 = find('saver', 'threadlog', 100)?.getTuple?.p99;
  targets.push(
    p99 === undefined
      ? { name: 'getTuple p99 < 2 ms at 100 threads', status: 'not measured', detail: 'n/a' }
      : { name: 'getTuple p99 < 2 ms at 100 threads', status: p99 < 2 ? 'met' : 'missed', detail: `p99 ${p99.toFixed(2)} ms` },
  );
  return targets;
}
