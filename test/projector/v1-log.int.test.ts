/**
 * The log is forever: a topic holding the committed schema v1 log (test/fixtures/v1-log.json,
 * written by the SDK before schema v2: consecutive append deltas with a snapshot every 16,
 * no `baseCheckpoint`, a chunked event, a delete and a re-run) and then schema v2 events of
 * the same threads (the LangGraph example graph going on, skip-deltas) projects into a
 * layout-2 generation that reads exactly what a layout-1 generation of the same log reads,
 * and what `replay` computes from the log alone.
 */
import { describe, expect, it } from 'vitest';
import { Partitioners } from 'kafkajs';
import { Command } from '@langchain/langgraph';
import { buildSupportAgent, userTurn } from '../../examples/support-agent.ts';
import { createEventCodec } from '../../src/events/index.ts';
import { readThreadLog } from '../../src/kafka/thread-reader.ts';
import { ThreadlogSaver } from '../../src/langgraph/saver.ts';
import { createMetaStore } from '../../src/mongo/meta.ts';
import { replayThread } from '../../src/ops/replay.ts';
import type { StoredCheckpoint } from '../../src/store/types.ts';
import { useIsolatedStack } from '../support/isolation.ts';
import { openStore } from '../store/helpers.ts';
import { v1Fixture } from '../events/v1-fixture.ts';
import { embeddedProjector, makeTopics, waitCaughtUp } from './helpers.ts';

const stack = useIsolatedStack();

const plainBytes = (v: unknown): unknown =>
  v instanceof Uint8Array ? new Uint8Array(v) : Array.isArray(v) ? v.map(plainBytes) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainBytes(x)])) : v;

describe('a schema v1 log, then schema v2 events', () => {
  it('projects into layout 2 as it does into layout 1, and as replay reads it', async () => {
    const fixture = v1Fixture();
    const topic = await makeTopics(stack, fixture.partitions);
    const producer = stack.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    for (const r of fixture.records) {
      await producer.send({ topic, acks: -1, messages: [{ partition: r.partition, key: r.key, value: Buffer.from(r.value, 'base64'), headers: r.headers }] });
    }
    await producer.disconnect();

    const two = embeddedProjector(stack, { generation: 'mixed2', partitions: fixture.partitions });
    const one = embeddedProjector(stack, { generation: 'mixed1', partitions: fixture.partitions, layout: 1, redisPrefix: `${stack.redisPrefix}one:` });
    await Promise.all([two.start(), one.start()]);
    await waitCaughtUp(stack, stack.redisPrefix, topic, 90_000);

    // the example graph goes on where the v1 log left the threads: schema v2 events now
    const store = await openStore(stack, { generation: 'mixed2', pinGeneration: true, partitions: fixture.partitions });
    const graph = buildSupportAgent(new ThreadlogSaver({ store }), { reviewEvery: 2 });
    for (const thread of ['support-1', 'support-2']) {
      const config = { configurable: { thread_id: thread } };
      await graph.invoke(userTurn(7), config);
      await graph.invoke(userTurn(8), config);
      if ((await graph.getState(config)).next.length > 0) await graph.invoke(new Command({ resume: true }), config);
      await graph.invoke(userTurn(9), config);
    }
    await waitCaughtUp(stack, stack.redisPrefix, topic, 90_000);
    await waitCaughtUp(stack, `${stack.redisPrefix}one:`, topic, 90_000);
    const meta = createMetaStore((await stack.mongo()).db(stack.dbName));
    expect([await meta.getLayout('mixed1'), await meta.getLayout('mixed2')]).toEqual([1, 2]);

    const fromTwo = await openStore(stack, { generation: 'mixed2', pinGeneration: true, partitions: fixture.partitions });
    const fromOne = await openStore(stack, { generation: 'mixed1', pinGeneration: true, partitions: fixture.partitions, redisKeyPrefix: `${stack.redisPrefix}one:` });
    const codec = createEventCodec();
    for (const thread of ['support-1', 'support-2', 'chunked']) {
      const all = async (s: typeof store): Promise<StoredCheckpoint[]> => {
        const out: StoredCheckpoint[] = [];
        for await (const c of s.list({ threadId: thread, consistency: 'eventual' })) out.push(c);
        return out;
      };
      const [a, b] = [await all(fromOne), await all(fromTwo)];
      expect(b.length, thread).toBeGreaterThan(0);
      expect(b, thread).toEqual(a);
      const log = await readThreadLog({ kafka: stack.kafka, topic, threadId: thread, codec });
      const schemas = new Set(log.events.map((e) => (e.event.type === 'checkpoint' && e.event.values.some((v) => v.kind === 'append' && v.baseCheckpoint !== undefined) ? 2 : 1)));
      if (thread !== 'chunked') expect(schemas, `${thread} has events of both schemas`).toEqual(new Set([1, 2]));
      // every checkpoint of the root namespace as replay computes it from the log alone
      for (const c of b.filter((x) => x.checkpointNs === '')) {
        const replayed = await replayThread(log.events, { kind: 'checkpoint', checkpointId: c.checkpointId }, '', codec);
        // (bytes come back as a Buffer from the log's records, a Uint8Array from the store)
        expect(c.checkpoint.channel_values, `${thread} ${c.checkpointId}`).toEqual(plainBytes(replayed.checkpoint.channel_values));
      }
    }
  });
});
