/**
 * A head never moves backwards, whoever applies what in which order: two projectors of one
 * group race through rebalances while the log is written (a partition's new owner re-reads
 * from the committed offset while the old owner may still finish its batch), then a replay
 * group re-applies every older batch after the newer ones. A sampler reads every thread's
 * Redis and MongoDB head all along: no sample may be lower than an earlier one, and at the
 * end each is the max (checkpointId, position) of what was written for the thread.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import type { Db } from 'mongodb';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { createWorkload } from '../../bench/workload.ts';
import { createProjectionStore, type ProjectionStore } from '../../src/mongo/projection-store.ts';
import { createRedisCache, type RedisCache } from '../../src/redis/cache.ts';
import { compareHeads, toPos, type Pos } from '../../src/projection/documents.ts';
import type { LogPosition } from '../../src/events/types.ts';
import { committedOffsets, embeddedProjector, endOffsets, logWriter, makeTopics, waitCaughtUp, type LogWriter } from './helpers.ts';

const stack = useIsolatedStack();
const PARTITIONS = 6;
const THREADS = 36;
const generation = 'race';
const workload = createWorkload({ threads: THREADS, steps: 24, messageChars: 150, threadPrefix: 'r' });
// small fetches: many small batches, so a rebalance lands in the middle of the load
const small = { generation, maxBytesPerPartition: 16 * 1024, partitionsConsumedConcurrently: 3 };
const first = embeddedProjector(stack, small);
const second = embeddedProjector(stack, small);
const replay = embeddedProjector(stack, { ...small, groupId: `${stack.topicPrefix}.replay` });
let topic: string;
let db: Db;
let writer: LogWriter;

interface Head {
  checkpointId: string;
  pos: Pos;
}
const show = (h: Head | undefined): string => (h ? `${h.checkpointId}@${h.pos.partition}:${h.pos.offset}` : 'none');
const headOf = (h: { checkpointId: string; position: LogPosition } | undefined): Head | undefined => h && { checkpointId: h.checkpointId, pos: toPos(h.position) };

/** Samples every thread's two heads until stopped; records every backwards move it sees. */
function headSampler(store: ProjectionStore, cache: RedisCache, threads: string[]) {
  const last = new Map<string, Head>();
  const backwards: string[] = [];
  let samples = 0;
  let running = true;
  const see = (layer: string, thread: string, h: Head | undefined): void => {
    const k = `${layer}/${thread}`;
    const prev = last.get(k);
    if (!h) {
      if (prev) backwards.push(`${k}: ${show(prev)} -> none`);
      return;
    }
    if (prev && compareHeads(h, prev) < 0) backwards.push(`${k}: ${show(prev)} -> ${show(h)}`);
    if (!prev || compareHeads(h, prev) > 0) last.set(k, h);
  };
  const loop = (async () => {
    while (running) {
      await Promise.all(
        threads.map(async (t) => {
          const [m, r] = await Promise.all([store.getHead(t, ''), cache.getHead(t, '')]);
          see('mongo', t, headOf(m));
          see('redis', t, headOf(r));
        }),
      );
      samples += 1;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    backwards,
    samples: () => samples,
    async stop() {
      running = false;
      await loop;
    },
  };
}

beforeAll(async () => {
  topic = await makeTopics(stack, PARTITIONS);
  db = (await stack.mongo()).db(stack.dbName);
  writer = logWriter(stack, workload.codec, PARTITIONS);
});

afterAll(async () => {
  await writer.close();
});

describe('head order under racing projectors', () => {
  it('never moves a Redis or MongoDB head backwards: rebalances mid-load, then a replay of older batches', async () => {
    const store = createProjectionStore({ db, generation });
    const cache = createRedisCache({ redis: stack.redis(), prefix: stack.redisPrefix });
    const threads = Array.from({ length: THREADS }, (_, i) => `r-${i}`);
    const max = new Map<string, Head>();
    const sampler = headSampler(store, cache, threads);

    await first.start();
    let step = 0;
    for await (const events of workload.all()) {
      const receipts = await writer.write(events);
      events.forEach((e, i) => {
        if (e.type !== 'checkpoint') return;
        const h = { checkpointId: e.checkpointId, pos: toPos(receipts[i]!) };
        const cur = max.get(e.threadId);
        if (!cur || compareHeads(h, cur) > 0) max.set(e.threadId, h);
      });
      step += 1;
      // the second member joins a third of the way in, the first leaves at two thirds:
      // two rebalances while batches are in flight
      if (step === 8) await second.start();
      if (step === 16) {
        // the first has applied something before it leaves, so its partitions really move
        await waitFor(() => [...first.lag().values()].some((l) => l.through !== undefined), { what: 'the first projector applying a batch' });
        await first.stop();
      }
    }
    await waitCaughtUp(stack, stack.redisPrefix, topic, 90_000);
    const afterRace = sampler.samples();

    // the third path: every batch again, oldest first, after the newest were applied
    await replay.start();
    const ends = await endOffsets(stack, topic);
    await waitFor(async () => {
      const committed = await committedOffsets(stack, replay.groupId, topic);
      return [...ends].every(([p, end]) => end === '0' || committed.get(p) === end);
    }, { timeoutMs: 90_000, intervalMs: 200, what: 'the replay group to reach the end offsets' });
    await replay.stop();
    await waitFor(() => sampler.samples() > afterRace + 2, { what: 'samples after the replay' });
    await sampler.stop();

    expect(sampler.backwards).toEqual([]);
    // sampled during the load, not just once at the end
    expect(afterRace).toBeGreaterThan(5);
    for (const t of threads) {
      const want = max.get(t)!;
      expect(show(headOf(await store.getHead(t, ''))), `mongo head of ${t}`).toBe(show(want));
      expect(show(headOf(await cache.getHead(t, ''))), `redis head of ${t}`).toBe(show(want));
    }
  });
});
