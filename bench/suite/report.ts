/**
 * Markdown tables of a run (printed to stdout and written into docs/BENCHMARKS.md between
 * markers; the text around the markers is written by people and kept).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Row, Target } from './aggregate.ts';
import { saverKinds, saverLabels, type SaverKind } from './types.ts';

const f = (n: number | undefined, d = 0): string =>
  n === undefined || !Number.isFinite(n) ? 'n/a' : n.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
const mib = (b: number | undefined): string => (b === undefined || !Number.isFinite(b) ? 'n/a' : `${f(b / 1024 / 1024, 0)} MiB`);
const ms = (q: { p50: number; p99: number } | undefined): string => (q ? `${f(q.p50, 2)} / ${f(q.p99, 2)}` : 'n/a');
const opsCell = (r: Row, d: number): string => (r.errors.length > 0 && r.reps === 0 ? `failed` : `${f(r.opsPerSec, d)}${r.capped ? ' (capped)' : ''}${r.errors.length > 0 ? ` (${r.errors.length} failed)` : ''}`);
const order = (a: Row, b: Row): number => Number(a.pinned) - Number(b.pinned) || a.threads - b.threads || saverKinds.indexOf(a.saver) - saverKinds.indexOf(b.saver);
const size = (r: Row): string => `${r.threads} × ${r.steps}${r.pinned ? ' pinned' : ''}`;

function ratioCells(r: Row, peers: SaverKind[]): string {
  return peers.map((p) => (p === r.saver ? '—' : r.ratios[p] === undefined || !Number.isFinite(r.ratios[p]) ? 'n/a' : `${f(r.ratios[p], 2)}x`)).join(' | ');
}

export function tables(rows: Row[], savers: SaverKind[]): string {
  const out: string[] = [];
  const peers = savers;
  const graph = rows.filter((r) => r.workload === 'graph').sort(order);
  if (graph.length > 0) {
    out.push('#### Graph fleet (turns/s, median of repetitions; ratio = this saver ÷ the column\'s saver)\n');
    out.push(`| threads × turns | saver | turns/s | reps (turns/s) | peak RSS client | ${peers.map((p) => `÷ ${saverLabels[p]}`).join(' | ')} |`);
    out.push(`|---|---|---:|---|---:|${peers.map(() => '---:').join('|')}|`);
    for (const r of graph) {
      out.push(`| ${size(r)} | ${saverLabels[r.saver]} | ${opsCell(r, 1)} | ${r.opsPerSecReps.map((v) => f(v, 0)).join(', ')} | ${mib(r.peakRssBytes)} | ${ratioCells(r, peers)} |`);
    }
  }
  const saver = rows.filter((r) => r.workload === 'saver').sort(order);
  if (saver.length > 0) {
    out.push('\n#### Saver level (steps/s; latencies p50 / p99 in ms)\n');
    out.push(`| threads × steps | saver | steps/s | put | putWrites | getTuple | list (limit 10) | peak RSS client | ${peers.map((p) => `÷ ${saverLabels[p]}`).join(' | ')} |`);
    out.push(`|---|---|---:|---:|---:|---:|---:|---:|${peers.map(() => '---:').join('|')}|`);
    for (const r of saver) {
      out.push(
        `| ${size(r)} | ${saverLabels[r.saver]} | ${opsCell(r, 0)} | ${ms(r.put)} | ${ms(r.putWrites)} | ${ms(r.getTuple)} | ${ms(r.list)} | ${mib(r.peakRssBytes)} | ${ratioCells(r, peers)} |`,
      );
    }
    const ours = saver.filter((r) => r.saver === 'threadlog');
    if (ours.length > 0) {
      out.push(`\n${saverLabels.threadlog} extras: projection lag = put acknowledged → the thread's Redis head shows it (sampled, polled every ~1 ms); the projector is a separate process.\n`);
      out.push('| threads × steps | lag p50 ms | lag p99 ms | samples | peak RSS projector |');
      out.push('|---|---:|---:|---:|---:|');
      for (const r of ours) out.push(`| ${size(r)} | ${f(r.lag?.p50, 1)} | ${f(r.lag?.p99, 1)} | ${r.lag?.n ?? 0} | ${mib(r.projectorPeakRssBytes)} |`);
    }
  }
  const bytes = rows.filter((r) => r.workload === 'bytes').sort(order);
  if (bytes.length > 0) {
    const at = [...new Set(bytes.flatMap((r) => (r.storage ?? []).map((s) => s.steps)))].sort((a, b) => a - b);
    out.push(`\n#### Bytes stored per step (${bytes[0]!.threads} threads; total storage after k steps per thread ÷ (threads × k))\n`);
    out.push(`| saver | what is measured | ${at.map((k) => `${k} steps`).join(' | ')} |`);
    out.push(`|---|---|${at.map(() => '---:').join('|')}|`);
    const what: Record<SaverKind, string> = {
      threadlog: 'projection: summed BSON of the database',
      memory: 'in process memory',
      sqlite: 'database file (WAL checkpointed)',
      postgres: 'pg_total_relation_size of its tables',
      mongodb: 'summed BSON of the database',
    };
    for (const r of bytes) {
      const cell = (k: number): string => f(r.storage?.find((s) => s.steps === k)?.bytesPerStep, 0);
      out.push(`| ${saverLabels[r.saver]} | ${what[r.saver]} | ${at.map(cell).join(' | ')} |`);
      if (r.saver === 'threadlog') {
        const kcell = (k: number): string => f(r.storage?.find((s) => s.steps === k)?.kafkaBytesPerStep, 0);
        out.push(`| ${saverLabels[r.saver]} | Kafka log: the topic's .log segments | ${at.map(kcell).join(' | ')} |`);
      }
    }
  }
  const timed = rows.filter((r) => r.workload !== 'bytes' && Object.keys(r.cpuSeconds).length > 0).sort((a, b) => a.workload.localeCompare(b.workload) || order(a, b));
  if (timed.length > 0) {
    const groups = ['client', 'projector', 'ferretdb', 'kafka', 'redis', 'postgres'];
    out.push('\n#### Where the CPU went (pinned: the client on core 0, servers and projector on core 1; CPU ms per step or turn over the whole cell — warm-up and list calls included — median repetition; servers are shared with the rest of the machine)\n');
    out.push(`| workload | threads | saver | ${groups.join(' | ')} | projector batches: mean ms, events |`);
    out.push(`|---|---|---|${groups.map(() => '---:').join('|')}|---:|`);
    for (const r of timed) {
      const per = (k: string): string => {
        const cpu = r.cpuSeconds[k];
        return cpu === undefined || !(r.ops > 0) ? '' : f((cpu * 1000) / r.ops, 2);
      };
      const pj = r.projector ? `${f(r.projector.meanBatchMs, 1)} ms, ${f(r.projector.eventsPerBatch, 1)}` : '';
      out.push(`| ${r.workload} | ${r.threads}${r.pinned ? ' pinned' : ''} | ${saverLabels[r.saver]} | ${groups.map(per).join(' | ')} | ${pj} |`);
    }
  }
  const failed = rows.filter((r) => r.errors.length > 0);
  if (failed.length > 0) out.push(`\n**Failed cells:** ${failed.map((r) => `${saverLabels[r.saver]} ${r.workload} ${r.threads}: ${r.errors.join('; ')}`).join(' · ')}`);
  const bad = rows.filter((r) => r.mismatches > 0);
  if (bad.length > 0) out.push(`\n**Correctness: reads that did not show the last write:** ${bad.map((r) => `${saverLabels[r.saver]} ${r.workload} ${r.threads}: ${r.mismatches}`).join('; ')}`);
  return out.join('\n');
}

export function targetsTable(targets: Target[]): string {
  return ['| target | result | measured |', '|---|---|---|', ...targets.map((t) => `| ${t.name} | ${t.status === 'met' ? 'met' : t.status === 'missed' ? '**missed**' : t.status} | ${t.detail} |`)].join('\n');
}

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

/** Replaces the generated block of the doc, creating the doc from `skeleton` if missing. */
export function writeDocBlock(file: string, block: string, skeleton: string): void {
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : skeleton;
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  const body = `${START}\n${block}\n${END}`;
  writeFileSync(file, a >= 0 && b > a ? doc.slice(0, a) + body + doc.slice(b + END.length) : `${doc.trimEnd()}\n\n${body}\n`);
}
