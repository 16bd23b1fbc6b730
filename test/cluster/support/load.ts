/**
 * Load and checks shared by the failure tests: a save load that records every save's
 * outcome and timing, the log read back and decoded, the projection compared with one built
 * from scratch, and the numbers a failover is described by (stalls, windows).
 */
import type { Db, Document } from 'mongodb';
import { expect } from 'vitest';
import { createEventCodec } from '../../../src/events/codec.ts';
import type { Receipt } from '../../../src/events/types.ts';
import { isThreadlogError } from '../../../src/errors.ts';
import { createProjector } from '../../../src/projector/index.ts';
import type { CheckpointStore } from '../../../src/store/types.ts';
import { readTopic } from '../../kafka/helpers.ts';
import { dumpGeneration, expectSameGeneration } from '../../projector/helpers.ts';
import { checkpoint } from '../../store/helpers.ts';
import { waitFor } from '../../support/isolation.ts';
import type { ClusterStack } from './cluster.ts';

export interface SaveOutcome {
  threadId: string;
  checkpointId: string;
  startedAt: number;
  settledAt?: number;
  receipt?: Receipt;
  error?: unknown;
}

export interface SaveLoad {
  readonly outcomes: SaveOutcome[];
  acked(): number;
  /** stop issuing saves and wait for every one in flight to settle */
  stop(): Promise<void>;
}

/**
 * `workers` loops, each saving to its own threads in turn; `ratePerSec` spreads the saves
 * evenly (a steady load), without it every worker saves as fast as acknowledgements come (a
 * burst). A failed save is recorded, not retried: the test checks what was acknowledged.
 */
export function startSaveLoad(store: CheckpointStore, o: { threads: string[]; workers: number; ratePerSec?: number }): SaveLoad {
  if (o.workers < 1 || o.workers > o.threads.length) throw new Error(`startSaveLoad: 1..${o.threads.length} workers (one thread each at least), not ${o.workers}`);
  const outcomes: SaveOutcome[] = [];
  const parent = new Map<string, string>();
  let stopping = false;
  let acked = 0;
  let step = 0;
  const interval = o.ratePerSec === undefined ? 0 : (1000 * o.workers) / o.ratePerSec;
  const worker = async (w: number): Promise<void> => {
    const mine = o.threads.filter((_, i) => i % o.workers === w);
    for (let i = 0; !stopping; i++) {
      const began = Date.now();
      const threadId = mine[i % mine.length]!;
      step += 1;
      const cp = checkpoint({ n: step, thread: threadId }, step);
      const out: SaveOutcome = { threadId, checkpointId: cp.id, startedAt: began };
      outcomes.push(out);
      try {
        const p = parent.get(threadId);
        out.receipt = await store.save({ threadId, checkpoint: cp, ...(p === undefined ? {} : { parentCheckpointId: p }) });
        parent.set(threadId, cp.id);
        acked += 1;
      } catch (e) {
        out.error = e;
      }
      out.settledAt = Date.now();
      // at least a macrotask between saves: a save that fails at once must not starve timers
      const wait = Math.max(0, interval - (Date.now() - began));
      if (!stopping) await new Promise((r) => setTimeout(r, wait));
    }
  };
  const running = Array.from({ length: o.workers }, (_, w) => worker(w));
  return {
    outcomes,
    acked: () => acked,
    async stop() {
      stopping = true;
      await Promise.all(running);
    },
  };
}

/** Every save settled (none hangs) within `boundMs`, and every failure is a typed retriable one. */
export function expectSettledWithin(outcomes: SaveOutcome[], boundMs: number): void {
  const unsettled = outcomes.filter((o) => o.settledAt === undefined);
  expect(unsettled.length, 'saves that never settled').toBe(0);
  const slowest = Math.max(...outcomes.map((o) => o.settledAt! - o.startedAt));
  expect(slowest, `the slowest save took ${slowest} ms`).toBeLessThanOrEqual(boundMs);
  for (const f of outcomes.filter((o) => o.error !== undefined)) {
    expect(isThreadlogError(f.error), `untyped failure: ${String(f.error)}`).toBe(true);
    expect((f.error as { retriable: boolean }).retriable, `non-retriable failure: ${String(f.error)}`).toBe(true);
  }
}

export interface LogIndex {
  /** checkpoint id -> every position it is at in the log */
  positions: Map<string, string[]>;
  records: number;
}

/** Reads the whole topic (up to its end offsets now) and indexes checkpoint events by id. */
export async function readLog(stack: ClusterStack, topic: string): Promise<LogIndex> {
  const offsets = await (await stack.admin()).fetchTopicOffsets(topic);
  const total = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  const records = await readTopic(stack.endpoints.kafkaBrokers, topic, total, { groupId: stack.unique('log-reader'), timeoutMs: 120_000 });
  const codec = createEventCodec();
  const positions = new Map<string, string[]>();
  for (const r of records) {
    const ev = await codec.decode({ key: r.key, value: r.value, headers: r.headers });
    if (ev.type !== 'checkpoint') continue;
    const list = positions.get(ev.checkpointId) ?? [];
    list.push(`${r.partition}@${r.offset}`);
    positions.set(ev.checkpointId, list);
  }
  return { positions, records: records.length };
}

/** Every acknowledged save is in the log exactly once, at the position its receipt names. */
export function expectAckedExactlyOnce(outcomes: SaveOutcome[], log: LogIndex): void {
  const acked = outcomes.filter((o) => o.receipt !== undefined);
  const missing = acked.filter((o) => !log.positions.has(o.checkpointId));
  expect(missing.map((o) => o.checkpointId), 'acknowledged saves missing from the log').toEqual([]);
  const twice = acked.filter((o) => log.positions.get(o.checkpointId)!.length !== 1);
  expect(twice.map((o) => `${o.checkpointId}: ${log.positions.get(o.checkpointId)!.join(', ')}`), 'acknowledged saves in the log more than once').toEqual([]);
  const misplaced = acked.filter((o) => log.positions.get(o.checkpointId)![0] !== `${o.receipt!.partition}@${o.receipt!.offset}`);
  expect(misplaced.map((o) => o.checkpointId), 'receipts naming another position').toEqual([]);
}

/** The committed offsets of `groupId` reached the topic's end offsets. */
export async function waitCommittedToEnd(stack: ClusterStack, groupId: string, topic: string, timeoutMs: number): Promise<void> {
  const admin = await stack.admin();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.high]));
  await waitFor(
    async () => {
      const res = await admin.fetchOffsets({ groupId, topics: [topic] });
      const committed = new Map((res[0]?.partitions ?? []).map((p) => [p.partition, p.offset]));
      return [...ends].every(([p, end]) => end === '0' || committed.get(p) === end);
    },
    { timeoutMs, intervalMs: 500, what: `group ${groupId} to commit up to the end offsets of ${topic}` },
  );
}

/**
 * The projection of `generation` equals, document by document, one built from the log from
 * scratch by an uninterrupted projector (no Redis), as the crash test does on one broker.
 */
export async function expectEqualToRebuilt(stack: ClusterStack, generation: string, partitions: number, timeoutMs = 240_000): Promise<Record<string, Document[]>> {
  const topic = `${stack.topicPrefix}.checkpoints`;
  const scratch = createProjector({
    topicPrefix: stack.topicPrefix,
    generation: `${generation}-scratch`,
    partitions,
    brokers: stack.endpoints.kafkaBrokers,
    mongoUrl: stack.endpoints.mongoUrl,
    mongoDbName: stack.dbName,
    ensureTopics: false,
  });
  await scratch.start();
  try {
    await waitCommittedToEnd(stack, scratch.groupId, topic, timeoutMs);
  } finally {
    await scratch.stop();
  }
  const db: Db = (await stack.mongo()).db(stack.dbName);
  const [got, fresh] = await Promise.all([dumpGeneration(db, generation), dumpGeneration(db, `${generation}-scratch`)]);
  expect(got.checkpoints!.length).toBeGreaterThan(0);
  expectSameGeneration(got, fresh);
  return got;
}

/** Longest time without any save being acknowledged, within [from, to]. */
export function longestAckGap(outcomes: SaveOutcome[], from: number, to: number): number {
  const acks = outcomes.filter((o) => o.receipt !== undefined && o.settledAt! >= from && o.settledAt! <= to).map((o) => o.settledAt!).sort((a, b) => a - b);
  let gap = 0;
  let prev = from;
  for (const t of acks) {
    gap = Math.max(gap, t - prev);
    prev = t;
  }
  return Math.max(gap, to - prev);
}

export const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

/** One line the README's failover numbers are taken from. */
export function report(what: string, numbers: Record<string, unknown>): void {
  process.stderr.write(`[measured ${new Date().toISOString().slice(0, 10)}] ${what}: ${JSON.stringify(numbers)}\n`);
}
