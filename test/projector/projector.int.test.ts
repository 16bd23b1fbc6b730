/**
 * The embedded projector on the real stack: what it projects (MongoDB documents, Redis heads
 * and watermarks), that a replay into the same generation changes nothing, and that poison
 * records go to the dead-letter topic while the events after them are projected.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import type { Db } from 'mongodb';
import kafkajs from 'kafkajs';
import { Registry } from 'prom-client';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { checkpointIdFor, createWorkload } from '../../bench/workload.ts';
import { createProjectionStore } from '../../src/mongo/projection-store.ts';
import { deadLetterTopic } from '../../src/kafka/topics.ts';
import { checkpointCacheEntry, deadLetterHeaderNames } from '../../src/projector/index.ts';
import type { CheckpointEvent, Receipt, ThreadlogEvent } from '../../src/events/types.ts';
import { readTopic } from '../kafka/helpers.ts';
import { committedOffsets, dumpGeneration, embeddedProjector, endOffsets, expectSameGeneration, logWriter, makeTopics, redisHead, waitCaughtUp, type LogWriter } from './helpers.ts';

const stack = useIsolatedStack();
const PARTITIONS = 4;
const generation = 'live';
const workload = createWorkload({ threads: 30, steps: 8, messageChars: 200, threadPrefix: 'th' });
let topic: string;
let db: Db;
let writer: LogWriter;
const registry = new Registry();
const projector = embeddedProjector(stack, { generation, registry, partitionsConsumedConcurrently: 2 });
const replay = embeddedProjector(stack, { generation, groupId: `${stack.id}.replay` });
const written: Array<{ event: ThreadlogEvent; receipt: Receipt }> = [];

beforeAll(async () => {
  topic = await makeTopics(stack, PARTITIONS);
  db = (await stack.mongo()).db(stack.dbName);
  writer = logWriter(stack, workload.codec, PARTITIONS);
  await projector.start();
  for await (const events of workload.all()) {
    const receipts = await writer.write(events);
    events.forEach((event, i) => written.push({ event, receipt: receipts[i]! }));
  }
  // one deleted thread: its documents and cache keys must go
  const del: ThreadlogEvent = { type: 'thread-deleted', eventId: 'del-th-0', threadId: 'th-0', ts: Date.now() };
  const [receipt] = await writer.write([del]);
  written.push({ event: del, receipt: receipt! });
});

afterAll(async () => {
  await writer.close();
});

describe('projector (embedded)', () => {
  it('projects every event into MongoDB and keeps Redis heads and watermarks', async () => {
    await waitCaughtUp(stack, stack.redisPrefix, topic);
    expect(projector.ready()).toEqual([]);
    const store = createProjectionStore({ db, generation });
    const lastOf = new Map<string, { event: CheckpointEvent; receipt: Receipt }>();
    for (const w of written) if (w.event.type === 'checkpoint') lastOf.set(w.event.threadId, { event: w.event, receipt: w.receipt });
    for (const [thread, { event, receipt }] of lastOf) {
      const head = await store.getHead(thread, '');
      const cached = await redisHead(stack.redis(), stack.redisPrefix, thread);
      if (thread === 'th-0') {
        expect(head).toBeUndefined();
        expect(cached).toBeUndefined();
        continue;
      }
      expect(head?.checkpointId).toBe(event.checkpointId);
      expect(head?.position).toEqual({ partition: receipt.partition, offset: receipt.offset });
      expect(cached?.payload).toBe(checkpointCacheEntry(event, { partition: receipt.partition, offset: receipt.offset }));
      expect((await store.listCheckpoints(thread, '')).length).toBe(8);
    }
    // writesEvery 4: step 3 of every thread has one task's writes
    expect(await store.getWrites('th-1', '', checkpointIdFor(3))).toHaveLength(1);
    // committed offsets are the end offsets: everything applied was committed, nothing more
    await waitFor(async () => {
      const [ends, committed] = await Promise.all([endOffsets(stack, topic), committedOffsets(stack, projector.groupId, topic)]);
      return [...ends].every(([p, end]) => committed.get(p) === end || (end === '0' && committed.get(p) === '-1'));
    }, { what: 'committed offsets at the end offsets' });
    expect([...projector.lag().values()].every((l) => l.lag === 0)).toBe(true);
    const metrics = await registry.getMetricsAsJSON();
    const applied = metrics.find((m) => m.name === 'threadlog_projector_events_total');
    expect(applied?.values.some((v) => v.labels.type === 'checkpoint' && Number(v.value) > 0)).toBe(true);
  });

  it('a replay of the whole topic (new group, same generation) leaves every document unchanged', async () => {
    await waitCaughtUp(stack, stack.redisPrefix, topic);
    const before = await dumpGeneration(db, generation);
    await replay.start();
    const ends = await endOffsets(stack, topic);
    let committed = new Map<number, string>();
    await waitFor(async () => {
      committed = await committedOffsets(stack, replay.groupId, topic);
      return [...ends].every(([p, end]) => end === '0' || committed.get(p) === end);
    }, { what: 'the replay group to reach the end offsets' }).catch((e: unknown) => {
      throw new Error(`${String(e)}: ends ${JSON.stringify([...ends])} committed ${JSON.stringify([...committed])} lag ${JSON.stringify([...replay.lag()])} ready ${replay.ready().join(';')}`);
    });
    await replay.stop();
    expectSameGeneration(await dumpGeneration(db, generation), before);
  });

  it('sends poison records to the dead-letter topic and projects the events after them', async () => {
    const producer = stack.kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    // both poison records go to the partition of thread `th-5`, before its next event
    const thread = 'th-5';
    const partition = written.find((w) => w.event.threadId === thread)!.receipt.partition;
    const res = await producer.send({
      topic,
      messages: [
        // a checksum that does not match
        { key: thread, partition, value: Buffer.from('not an envelope'), headers: { 'tl-type': 'checkpoint', 'tl-schema': '1', 'tl-encoding': 'identity', 'tl-event-id': 'x', 'tl-crc32': '00000000' } },
        // a chunk with no chunk 0 before it
        { key: thread, partition, value: Buffer.from('tail'), headers: { 'tl-type': 'checkpoint', 'tl-schema': '1', 'tl-encoding': 'identity', 'tl-event-id': 'y', 'tl-crc32': '00000000', 'tl-chunk-id': 'y', 'tl-chunk-index': '1', 'tl-chunk-count': '2', 'tl-chunk-total-bytes': '8' } },
      ],
    });
    await producer.disconnect();
    const [next] = await createWorkload({ threads: 6, steps: 9, threadPrefix: 'th', messageChars: 50 }).stepEvents(8).then((evs) => evs.filter((e) => e.threadId === thread));
    const nextEvent = { ...(next as CheckpointEvent), checkpointId: checkpointIdFor(9) };
    nextEvent.checkpoint = { ...nextEvent.checkpoint, id: nextEvent.checkpointId };
    await writer.write([nextEvent]);

    const store = createProjectionStore({ db, generation });
    await waitFor(async () => (await store.getHead(thread, ''))?.checkpointId === nextEvent.checkpointId, { what: 'the event after the poison projected' });
    const dead = await readTopic(stack.endpoints.kafkaBrokers, deadLetterTopic(stack.topicPrefix), 2, { groupId: `${stack.id}-dl-reader` });
    const byOffset = new Map(dead.map((d) => [d.headers[deadLetterHeaderNames.offset], d]));
    const first = byOffset.get(res[0]!.baseOffset!)!;
    expect(first.headers[deadLetterHeaderNames.reason]).toBe('corrupt-event');
    expect(first.headers[deadLetterHeaderNames.topic]).toBe(topic);
    expect(first.headers[deadLetterHeaderNames.partition]).toBe(String(partition));
    expect(first.value.toString()).toBe('not an envelope');
    expect(first.headers['tl-crc32']).toBe('00000000');
    const second = byOffset.get(String(BigInt(res[0]!.baseOffset!) + 1n))!;
    expect(second.headers[deadLetterHeaderNames.reason]).toBe('incomplete-chunks:orphan');
    expect(second.value.toString()).toBe('tail');
    await waitCaughtUp(stack, stack.redisPrefix, topic);
    const metrics = await registry.getSingleMetric('threadlog_projector_dead_letters_total')!.get();
    expect(metrics.values.reduce((n, v) => n + v.value, 0)).toBe(2);
  });
});
