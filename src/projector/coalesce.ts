/**
 * Group commit for the projection. kafkajs hands the projector one batch per partition; applied
 * one by one, every partition's batch pays the same handful of MongoDB commands (inserts per
 * collection, guarded replacements, offsets), however few events it holds — at a steady write
 * rate that is a few events per command. At most `maxInFlight` applies run at once; batches of
 * other partitions arriving meanwhile wait here and then go to MongoDB together: one set of
 * commands for all of them. Threads belong to one partition, so combined batches never
 * interleave a thread's events, and apply records each partition's offsets itself.
 *
 * A combined apply that fails fails every batch in it; each partition's processor then retries
 * or falls back as before. Its lone retries (`alone`) are never combined, so another
 * partition's bad event cannot make a good one look refused.
 */
import type { ApplyBatchOptions, BatchCounts, BatchResult, EventResult } from '../mongo/apply.ts';
import type { LogPosition } from '../events/types.ts';
import type { PositionedEvent } from '../projection/documents.ts';
import type { ProjectionApplier } from './partition-processor.ts';

export interface CoalescingOptions {
  /** at most this many events per combined apply (a single batch above it goes alone) */
  maxEvents: number;
  /** applies running at once; batches arriving meanwhile wait and are combined */
  maxInFlight: number;
}

export const defaultCoalescingOptions: CoalescingOptions = { maxEvents: 2_000, maxInFlight: 4 };

interface Request {
  events: readonly PositionedEvent[];
  options: ApplyBatchOptions;
  resolve(r: BatchResult): void;
  reject(e: unknown): void;
}

/** the highest position per partition of these events */
function highest(events: readonly PositionedEvent[]): LogPosition[] {
  const max = new Map<number, LogPosition>();
  for (const { position } of events) {
    const cur = max.get(position.partition);
    if (!cur || BigInt(position.offset) > BigInt(cur.offset)) max.set(position.partition, position);
  }
  return [...max.values()];
}

function countsOf(results: readonly EventResult[], combined: BatchCounts, first: boolean): BatchCounts {
  const skipped: BatchCounts['skipped'] = {};
  for (const r of results) if (!r.applied) skipped[r.reason] = (skipped[r.reason] ?? 0) + 1;
  // documents written are only known for the combined apply: the first request reports them,
  // the others none, so the sum over requests is what was written (projector metrics add them)
  const docs = first ? combined : { inserted: 0, replaced: 0, deleted: 0 };
  return { events: results.length, applied: results.filter((r) => r.applied).length, skipped, inserted: docs.inserted, replaced: docs.replaced, deleted: docs.deleted };
}

export function createCoalescingApplier(inner: ProjectionApplier, options: Partial<CoalescingOptions> = {}): ProjectionApplier {
  const o = { ...defaultCoalescingOptions, ...options };
  const queue: Request[] = [];
  let running = 0;

  async function runCombined(take: Request[]): Promise<void> {
    const events = take.flatMap((r) => r.events);
    const topics = new Set(take.flatMap((r) => (r.options.topic === undefined ? [] : [r.options.topic])));
    const through = take.flatMap((r) => (r.options.topic === undefined ? [] : (r.options.through ?? highest(r.events))));
    const [topic] = topics;
    try {
      const result = await inner.applyBatch(events, topic === undefined ? {} : { topic, through });
      let at = 0;
      for (const r of take) {
        const results = result.results.slice(at, at + r.events.length);
        const from = at;
        at += r.events.length;
        const missingBases = result.missingBases?.filter((m) => m.event >= from && m.event < at).map((m) => ({ ...m, event: m.event - from }));
        r.resolve({ results, counts: countsOf(results, result.counts, from === 0), ...(missingBases === undefined ? {} : { missingBases }) });
      }
    } catch (e) {
      for (const r of take) r.reject(e);
    }
  }

  async function drain(): Promise<void> {
    running++;
    try {
      while (queue.length > 0) {
        const first = queue.shift()!;
        const take = [first];
        if (!first.options.alone) {
          let n = first.events.length;
          let topic = first.options.topic;
          // one topic at most (a projector has one), never a lone retry, within maxEvents
          for (let i = 0; i < queue.length; ) {
            const r = queue[i]!;
            const t = r.options.topic;
            if (!r.options.alone && (t === undefined || topic === undefined || t === topic) && n + r.events.length <= o.maxEvents) {
              topic ??= t;
              take.push(r);
              n += r.events.length;
              queue.splice(i, 1);
            } else i++;
          }
        }
        if (take.length === 1) {
          await inner.applyBatch(first.events, first.options).then(first.resolve, first.reject);
        } else {
          await runCombined(take);
        }
      }
    } finally {
      running--;
    }
  }

  return {
    applyBatch(events, options = {}) {
      return new Promise<BatchResult>((resolve, reject) => {
        queue.push({ events, options, resolve, reject });
        if (running < o.maxInFlight) void drain();
      });
    },
  };
}
