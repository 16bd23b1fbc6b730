/**
 * The batch rules without any server: our own fakes of the projector's ports (the applier
 * and cache interfaces are ours, not MongoDB's or Redis'), so failures can be scripted.
 */
import { describe, expect, it } from 'vitest';
import { ThreadlogError, isThreadlogError } from '../../src/errors.ts';
import { createEventCodec } from '../../src/events/codec.ts';
import type { LogRecord } from '../../src/events/chunks.ts';
import type { ChannelValue, ChannelVersion, ThreadlogEvent } from '../../src/events/types.ts';
import type { BrokenDelta } from '../../src/mongo/problem-store.ts';
import type { BatchResult } from '../../src/mongo/apply.ts';
import type { PositionedEvent } from '../../src/projection/documents.ts';
import {
  backoffDelay,
  createPartitionProcessor,
  noopProjectorMetrics,
  type BaseChecks,
  type CacheUpkeep,
  type DeadLetterRecord,
  type RetryHooks,
} from '../../src/projector/index.ts';
import { silentLogger } from '../../src/logger.ts';
import { bytes, checkpointEvent, writesEvent } from '../events/fixtures.ts';

const codec = createEventCodec({ maxMessageBytes: 8192 });
const fastBackoff = { initialMs: 1, maxMs: 5, multiplier: 2, jitter: 0 };

/** an incompressible value big enough to be split into several chunks */
function bigEvent(threadId: string): ThreadlogEvent {
  const base = checkpointEvent({ threadId });
  return {
    ...base,
    checkpoint: { ...base.checkpoint, channel_versions: { file: 1 } },
    values: [{ kind: 'snapshot', channel: 'file', version: 1, value: bytes(20_000, true) }],
  };
}

async function recordsOf(events: ThreadlogEvent[], first = 0): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const e of events) for (const r of await codec.encode(e)) out.push({ ...r, offset: String(first + out.length) });
  return out;
}

interface Fake {
  applied: Array<{ events: readonly PositionedEvent[]; through: string | undefined }>;
  dead: DeadLetterRecord[];
  heads: string[];
  watermarks: string[];
  retries: string[];
}

function setup({ failApply = 0, failCache = 0, maxThreadsPerApply = 32, bases = undefined as BaseChecks | undefined, tombstoned = new Set<string>() } = {}) {
  const fake: Fake = { applied: [], dead: [], heads: [], watermarks: [], retries: [] };
  let applyFailures = failApply;
  let cacheFailures = failCache;
  const unavailable = (what: 'mongo' | 'redis') =>
    new ThreadlogError(what === 'mongo' ? 'mongo-unavailable' : 'redis-unavailable', `${what} down`, { retriable: true });
  const cache: CacheUpkeep = {
    advanceHead: async (_t, _ns, head) => {
      if (cacheFailures > 0) {
        cacheFailures -= 1;
        throw unavailable('redis');
      }
      fake.heads.push(head.checkpointId);
      return true;
    },
    deleteThread: async () => 0,
    publishWatermarks: async (_topic, w) => {
      fake.watermarks.push(...w.map((x) => `${x.partition}:${x.offset}`));
      return [];
    },
  };
  const processor = createPartitionProcessor({
    topic: 't.checkpoints',
    codec,
    store: {
      applyBatch: async (events, options): Promise<BatchResult> => {
        if (applyFailures > 0) {
          applyFailures -= 1;
          throw unavailable('mongo');
        }
        fake.applied.push({ events, through: options?.through?.[0]?.offset });
        return { results: events.map((e) => (tombstoned.has(e.event.threadId) ? { applied: false, reason: 'tombstoned' } : { applied: true })), counts: { events: events.length, applied: events.length, skipped: {}, inserted: 0, replaced: 0, deleted: 0 } };
      },
    },
    cache,
    sendDeadLetters: async (records) => void fake.dead.push(...records),
    metrics: noopProjectorMetrics,
    logger: silentLogger,
    backoff: fastBackoff,
    maxThreadsPerApply,
    ...(bases ? { bases } : {}),
  });
  let going = true;
  const hooks: RetryHooks = {
    keepGoing: () => going,
    heartbeat: async () => undefined,
    onRetry: (cause, _e, attempt) => void fake.retries.push(`${cause}#${attempt}`),
    onRecovered: () => undefined,
  };
  return { fake, processor, hooks, stop: () => (going = false) };
}

describe('partition processor', () => {
  it('retries a down MongoDB with back-off and applies the batch once it is back', async () => {
    const { fake, processor, hooks } = setup({ failApply: 3 });
    const records = await recordsOf([checkpointEvent({ threadId: 'a' }), writesEvent({ threadId: 'a' })]);
    const done = await processor.process(0, records, hooks);
    expect(fake.retries).toEqual(['mongo#1', 'mongo#2', 'mongo#3']);
    expect(fake.applied).toHaveLength(1);
    expect(fake.applied[0]!.events).toHaveLength(2);
    expect(done.through).toBe('1');
    expect(fake.watermarks).toEqual(['0:1']);
  });

  it('gives up without claiming anything when stopped while MongoDB is down', async () => {
    const { fake, processor, hooks, stop } = setup({ failApply: 1_000 });
    const records = await recordsOf([checkpointEvent({ threadId: 'a' })]);
    const pending = processor.process(0, records, hooks);
    setTimeout(stop, 30);
    const err = await pending.catch((e: unknown) => e);
    expect(isThreadlogError(err, 'closed')).toBe(true);
    expect(fake.applied).toHaveLength(0);
    expect(fake.watermarks).toHaveLength(0);
  });

  it('retries a down Redis without applying the MongoDB batch twice', async () => {
    const { fake, processor, hooks } = setup({ failCache: 2 });
    const done = await processor.process(0, await recordsOf([checkpointEvent({ threadId: 'a' })]), hooks);
    expect(fake.retries).toEqual(['redis#1', 'redis#2']);
    expect(fake.applied).toHaveLength(1);
    expect(done.through).toBe('0');
  });

  it('never claims past an open chunk sequence, and applies the event once it completes', async () => {
    const { fake, processor, hooks } = setup();
    const big = bigEvent('big');
    const bigRecords = await codec.encode(big);
    expect(bigRecords.length).toBeGreaterThan(2);
    const [small1, small2] = await Promise.all([codec.encode(checkpointEvent({ threadId: 's1' })), codec.encode(checkpointEvent({ threadId: 's2' }))]);
    const log: LogRecord[] = [small1![0]!, bigRecords[0]!, small2![0]!, ...bigRecords.slice(1)].map((r, i) => ({ ...r, offset: String(i) }));
    const first = await processor.process(0, log.slice(0, 3), hooks);
    expect(first.through).toBe('0');
    expect(fake.applied[0]!.events.map((e) => e.event.threadId)).toEqual(['s1', 's2']);
    const second = await processor.process(0, log.slice(3), hooks);
    expect(second.through).toBe(String(log.length - 1));
    expect(fake.applied[1]!.events.map((e) => e.event.threadId)).toEqual(['big']);
    expect(fake.dead).toHaveLength(0);
  });

  it('a re-read from an earlier offset starts the chunk assembler afresh (no false duplicates)', async () => {
    const { fake, processor, hooks } = setup();
    const big = bigEvent('big');
    const log = await recordsOf([big]);
    await processor.process(0, log.slice(0, 1), hooks);
    const again = await processor.process(0, log, hooks);
    expect(again.through).toBe(String(log.length - 1));
    expect(fake.dead).toHaveLength(0);
  });

  it('dead-letters undecodable records and broken chunk sequences with their bytes and reasons, then moves on', async () => {
    const { fake, processor, hooks } = setup();
    const good = await recordsOf([checkpointEvent({ threadId: 'ok' })]);
    const big = await codec.encode(bigEvent('big'));
    const corrupt = { ...good[0]!, value: Buffer.from('garbage') };
    const log: LogRecord[] = [corrupt, big[0]!, big[2]!, good[0]!].map((r, i) => ({ ...r, offset: String(i) }));
    const done = await processor.process(3, log, hooks);
    expect(done.through).toBe('3');
    expect(fake.dead.map((d) => d.headers['tl-dl-reason'])).toEqual(['corrupt-event', 'incomplete-chunks:gap', 'incomplete-chunks:gap']);
    expect(fake.dead.map((d) => d.headers['tl-dl-offset'])).toEqual(['0', '1', '2']);
    expect(fake.dead[0]!.value).toEqual(Buffer.from('garbage'));
    expect(fake.dead[0]!.headers['tl-dl-partition']).toBe('3');
    expect(fake.applied[0]!.events.map((e) => e.event.threadId)).toEqual(['ok']);
    expect(fake.applied[0]!.through).toBe('3');
  });

  it('applies a batch in slices of at most maxThreadsPerApply threads, offsets and watermark with the last only', async () => {
    const { fake, processor, hooks } = setup({ maxThreadsPerApply: 2 });
    const records = await recordsOf(['a', 'b', 'a', 'c', 'd', 'e'].map((threadId) => checkpointEvent({ threadId })));
    const done = await processor.process(0, records, hooks);
    expect(fake.applied.map((a) => a.events.map((e) => e.event.threadId).join(''))).toEqual(['aba', 'cd', 'e']);
    expect(fake.applied.map((a) => a.through)).toEqual([undefined, undefined, '5']);
    expect(fake.watermarks).toEqual(['0:5']);
    expect(done.through).toBe('5');
  });

  it('reports appends whose base is neither earlier in the batch nor projected, looking up only what it does not know', async () => {
    const projected = new Set(['y|4']);
    const lookups: string[] = [];
    const recorded: BrokenDelta[] = [];
    const cleared: string[] = [];
    const bases: BaseChecks = {
      present: async (threadId, _ns, versions) => {
        lookups.push(...versions.map(([, v]) => `${threadId}|${String(v)}`));
        return versions.filter(([, v]) => projected.has(`${threadId}|${String(v)}`)).map(([c, v]) => [c, v]);
      },
      record: async (ps) => void recorded.push(...ps),
      clearThread: async (t) => void cleared.push(t),
    };
    const { processor, hooks } = setup({ bases, tombstoned: new Set(['z']) });
    const snap = (version: ChannelVersion): ChannelValue => ({ kind: 'snapshot', channel: 'messages', version, value: bytes(4) });
    const app = (version: ChannelVersion, base: ChannelVersion): ChannelValue => ({ kind: 'append', channel: 'messages', version, base, depth: 1, baseCheckpoint: 'named-base', items: [bytes(2)] });
    const cp = (threadId: string, checkpointId: string, values: ChannelValue[]) => {
      const e = checkpointEvent({ threadId, checkpointId, values });
      return { ...e, checkpoint: { ...e.checkpoint, channel_versions: { messages: values[0]!.version } } };
    };
    const first = [
      cp('x', 'x1', [snap(1)]),
      cp('x', 'x2', [app(2, 1)]), // base earlier in the batch
      cp('y', 'y5', [app(5, 4)]), // base projected before
      cp('y', 'y7', [app(7, 6)]), // base nowhere
      cp('z', 'z2', [app(2, 1)]), // hidden by a tombstone: not projected, not reported
    ];
    await processor.process(0, await recordsOf(first), hooks);
    expect(lookups.sort()).toEqual(['y|4', 'y|6', 'z|1']);
    expect(recorded.map((p) => [p.threadId, p.checkpointId, p.version, p.base, p.pos.offset])).toEqual([['y', 'y7', 7, 6, 3]]);
    // versions projected by this processor need no lookup later
    lookups.length = 0;
    await processor.process(0, await recordsOf([cp('x', 'x3', [app(3, 2)]), cp('y', 'y8', [app(8, 7)])], 5), hooks);
    expect(lookups).toEqual([]);
    // a delete in the batch: nothing before it is a base any more
    const deleted: ThreadlogEvent = { type: 'thread-deleted', eventId: 'del', threadId: 'x', ts: 1 };
    await processor.process(0, await recordsOf([deleted, cp('x', 'x4', [app(4, 3)])], 7), hooks);
    expect(recorded.map((p) => p.checkpointId)).toEqual(['y7', 'x4']);
    expect(cleared).toEqual(['x']);
  });

  it('back-off grows exponentially up to its cap', () => {
    const o = { initialMs: 100, maxMs: 1_000, multiplier: 2, jitter: 0 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(o, a))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });
});
