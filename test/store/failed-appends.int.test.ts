/**
 * Acknowledged saves stay readable when appends fail in between (the fault-injection finding:
 * a save that failed while the broker was down became the delta base of the next, acknowledged
 * save, which could then never be read). On a private broker behind a TCP proxy, so it can be
 * killed or made to hang without touching the shared one. Each scenario then checks, from a
 * second store that reads only the projection: every acknowledged save by id with identical
 * content, `list` returning them all, and the audit (log vs projection, delta chains) clean.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import type { Checkpoint } from '@langchain/langgraph-checkpoint';
import { createCheckpointStore, createProjector, ThreadlogSaver, type CheckpointStore, type Projector } from '../../src/index.ts';
import { createKafkaClient, type Kafka } from '../../src/kafka/client.ts';
import { isThreadlogError, type ThreadlogError } from '../../src/errors.ts';
import { auditCommand } from '../../src/cli/audit.ts';
import type { AuditReport } from '../../src/ops/audit.ts';
import { startPrivateKafka, type PrivateKafka } from '../support/private-kafka.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { capture, stackEnv } from '../cli/helpers.ts';
import { checkpoint, GENERATION, PARTITIONS } from './helpers.ts';

const stack = useIsolatedStack();
const APPEND_TIMEOUT_MS = 4_000;
// the append timeout plus slack for a busy 2-core machine: seconds, never kafkajs' minutes
const BOUND_MS = APPEND_TIMEOUT_MS + 8_000;
let broker: PrivateKafka;
let kafka: Kafka;
let writer: CheckpointStore;
let reader: CheckpointStore;
let projector: Projector;

const client = (clientId: string): Kafka =>
  createKafkaClient({
    brokers: broker.brokers,
    clientId,
    // give up within seconds while the broker is gone, so a save fails instead of hanging
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 500 },
    requestTimeoutMs: 2_000,
    connectionTimeoutMs: 1_000,
  });

const openOn = (options: { writeThrough: boolean }) =>
  createCheckpointStore({
    kafka,
    mongo: { url: stack.endpoints.mongoUrl },
    redis: { url: stack.endpoints.redisUrl },
    dbName: stack.dbName,
    topicPrefix: stack.topicPrefix,
    redisKeyPrefix: stack.redisPrefix,
    partitions: PARTITIONS,
    generation: GENERATION,
    readTimeoutMs: 60_000,
    appender: { appendTimeoutMs: APPEND_TIMEOUT_MS },
    ...options,
  });

beforeAll(async () => {
  broker = await startPrivateKafka({ proxied: true });
  kafka = client('failed-appends');
  writer = await openOn({ writeThrough: true });
  // reads only what the projection holds: nothing from the writer's memory
  reader = await openOn({ writeThrough: false });
  projector = createProjector({
    topicPrefix: stack.topicPrefix,
    generation: GENERATION,
    partitions: PARTITIONS,
    kafka: client('failed-appends-projector'),
    mongoUrl: stack.endpoints.mongoUrl,
    mongoDbName: stack.dbName,
    redisUrl: stack.endpoints.redisUrl,
    redisPrefix: stack.redisPrefix,
    sessionTimeoutMs: 10_000,
  });
  await projector.start();
}, 180_000);

afterAll(async () => {
  await writer?.close();
  await reader?.close();
  await projector?.stop();
  await broker?.stop();
});

interface Saved {
  cp: Checkpoint;
  messages: string[];
}

/** Saves the next step of a thread: one more message in a list that only grows. */
function threadWriter(threadId: string) {
  const messages: string[] = [];
  const acked: Saved[] = [];
  // a failed append may still have reached the log (the broker died after writing it)
  const failed: string[] = [];
  let parent: string | undefined;
  let step = 0;
  return {
    acked,
    failed,
    async next(): Promise<void> {
      step += 1;
      // the list keeps what a failed save added, as LangGraph's in-memory state would
      messages.push(`message ${step} ${'x'.repeat(200)}`);
      const cp = checkpoint({ messages: [...messages], step }, step);
      cp.channel_versions = { messages: `${String(step).padStart(6, '0')}.${threadId}`, step: `${String(step).padStart(6, '0')}.s` };
      try {
        await writer.save({ threadId, checkpoint: cp, metadata: { source: 'loop', step, parents: {} }, newVersions: cp.channel_versions, ...(parent ? { parentCheckpointId: parent } : {}) });
      } catch (e) {
        failed.push(cp.id);
        throw e;
      }
      parent = cp.id;
      acked.push({ cp, messages: [...messages] });
    },
  };
}

async function expectReadable(threadId: string, acked: readonly Saved[], failed: readonly string[]): Promise<void> {
  // strong: waits until the projection caught up with the thread's partition
  const latest = await reader.load({ threadId }, { consistency: 'strong' });
  expect(latest?.checkpoint.id).toBe(acked.at(-1)!.cp.id);
  for (const s of acked) {
    const got = await reader.load({ threadId, checkpointId: s.cp.id }, { consistency: 'eventual' });
    expect(got?.checkpoint.channel_values.messages, `checkpoint ${s.cp.id}`).toEqual(s.messages);
  }
  const listed: string[] = [];
  for await (const c of reader.list({ threadId, consistency: 'eventual' })) listed.push(c.checkpoint.id);
  for (const s of acked) expect(listed).toContain(s.cp.id);
  for (const id of listed) if (!acked.some((s) => s.cp.id === id)) expect(failed).toContain(id);
  const io = capture();
  const env = stackEnv(stack, { THREADLOG_KAFKA_BROKERS: broker.brokers.join(',') });
  const code = await auditCommand(env, threadId, { json: true }, io);
  const report = io.json<AuditReport>();
  expect(report.assembly.problems).toEqual([]);
  expect(report.assembly.deltas).toBeGreaterThan(0);
  expect(code, io.stdout).toBe(0);
}

async function failedSave(save: () => Promise<void>): Promise<{ error: ThreadlogError; ms: number }> {
  const started = Date.now();
  const error = await save().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isThreadlogError(error), String(error)).toBe(true);
  return { error: error as ThreadlogError, ms: Date.now() - started };
}

describe('acknowledged saves around failed appends', () => {
  it('broker stopped between two saves: the failed one is no base, every acknowledged one reads back', async () => {
    const t = threadWriter('killed-between');
    for (let i = 0; i < 3; i++) await t.next();
    await broker.kill();
    const { error, ms } = await failedSave(() => t.next());
    expect(error.code).toBe('kafka-unavailable');
    expect(error.retriable).toBe(true);
    // bounded: the append timeout and kafkajs' short retries, never minutes
    expect(ms).toBeLessThan(BOUND_MS);
    await broker.restart();
    await waitFor(() => t.next().then(() => true), { timeoutMs: 60_000, what: 'a save to succeed after the restart' });
    for (let i = 0; i < 4; i++) await t.next();
    await expectReadable('killed-between', t.acked, t.failed);
  }, 180_000);

  it('broker that accepts requests and never answers: the save times out, later saves read back', async () => {
    const t = threadWriter('stalled');
    for (let i = 0; i < 3; i++) await t.next();
    await broker.proxy!.set('stall');
    let failure;
    try {
      failure = await failedSave(() => t.next());
    } finally {
      await broker.proxy!.set('up');
    }
    expect(failure.error.code).toBe('kafka-unavailable');
    expect(failure.error.retriable).toBe(true);
    expect(failure.ms).toBeLessThan(BOUND_MS);
    await waitFor(() => t.next().then(() => true), { timeoutMs: 60_000, what: 'a save to succeed after the stall' });
    for (let i = 0; i < 4; i++) await t.next();
    await expectReadable('stalled', t.acked, t.failed);
  }, 180_000);

  it('through ThreadlogSaver with durability "async", the broker killed mid-run', async () => {
    const State = Annotation.Root({ messages: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }) });
    const puts: Array<{ id: string; messages: string[] }> = [];
    // records what LangGraph asked to save and Kafka acknowledged
    class Recording extends ThreadlogSaver {
      override async put(...args: Parameters<ThreadlogSaver['put']>) {
        const messages = [...((args[1].channel_values.messages as string[] | undefined) ?? [])];
        const config = await super.put(...args);
        puts.push({ id: args[1].id, messages });
        return config;
      }
    }
    const saver = new Recording({ store: writer });
    let steps = 0;
    let onStep: (() => Promise<void>) | undefined;
    const graph = new StateGraph(State)
      .addNode('step', async (s) => {
        steps += 1;
        await onStep?.();
        return { messages: [`turn message ${steps} (${s.messages.length} before) ${'y'.repeat(300)}`] };
      })
      .addEdge(START, 'step')
      .addConditionalEdges('step', (s) => (s.messages.length % 6 === 0 ? END : 'step'))
      .compile({ checkpointer: saver });
    const config = { configurable: { thread_id: 'graph-async' }, durability: 'async' as const };
    await graph.invoke({ messages: ['hello'] }, config);
    // kill the broker in the middle of the next run: its puts in flight fail
    let killed = false;
    onStep = async () => {
      if (steps >= 9 && !killed) {
        killed = true;
        await broker.kill();
      }
    };
    const failed = await graph.invoke({ messages: ['again'] }, config).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(killed).toBe(true);
    expect(failed, 'the run cannot succeed while its checkpoints fail').toBeDefined();
    onStep = undefined;
    await broker.restart();
    await waitFor(() => graph.invoke({ messages: ['after restart'] }, config).then(() => true), { timeoutMs: 90_000, what: 'a run to succeed after the restart' });
    await graph.invoke({ messages: ['once more'] }, config);
    expect(puts.length).toBeGreaterThan(10);
    const latest = await reader.load({ threadId: 'graph-async' }, { consistency: 'strong' });
    expect(latest).toBeDefined();
    for (const p of puts) {
      const got = await reader.load({ threadId: 'graph-async', checkpointId: p.id }, { consistency: 'eventual' });
      expect(got?.checkpoint.channel_values.messages ?? [], `checkpoint ${p.id}`).toEqual(p.messages);
    }
    const listed: string[] = [];
    for await (const c of reader.list({ threadId: 'graph-async', consistency: 'eventual' })) listed.push(c.checkpoint.id);
    // every acknowledged put is listed (a failed one may be too: it can have reached the log)
    for (const p of puts) expect(listed).toContain(p.id);
    const io = capture();
    expect(await auditCommand(stackEnv(stack, { THREADLOG_KAFKA_BROKERS: broker.brokers.join(',') }), 'graph-async', { json: true }, io), io.stdout).toBe(0);
  }, 240_000);
});

describe('a projector started while Kafka is down', () => {
  it('waits (not ready, saying why) and projects once the broker is up', async () => {
    const t = threadWriter('before-kafka');
    for (let i = 0; i < 3; i++) await t.next();
    await broker.kill();
    const late = createProjector({
      topicPrefix: stack.topicPrefix,
      generation: 'late',
      partitions: PARTITIONS,
      kafka: client('late-projector'),
      mongoUrl: stack.endpoints.mongoUrl,
      mongoDbName: stack.dbName,
      redisPrefix: `${stack.redisPrefix}late:`,
      startBackoff: { initialMs: 200, maxMs: 1_000, multiplier: 2, jitter: 0 },
    });
    const started = late.start();
    started.catch(() => undefined);
    try {
      await waitFor(() => late.ready().some((r) => r.startsWith('waiting for Kafka')), { timeoutMs: 30_000, what: 'the projector to say it waits for Kafka' });
      expect(late.health()).toEqual([]);
      await broker.restart();
      await started;
      const lateReader = await createCheckpointStore({
        kafka,
        mongo: { url: stack.endpoints.mongoUrl },
        dbName: stack.dbName,
        topicPrefix: stack.topicPrefix,
        partitions: PARTITIONS,
        generation: 'late',
        writeThrough: false,
        readTimeoutMs: 60_000,
      });
      try {
        const got = await lateReader.load({ threadId: 'before-kafka' }, { consistency: 'strong' });
        expect(got?.checkpoint.channel_values.messages).toEqual(t.acked.at(-1)!.messages);
      } finally {
        await lateReader.close();
      }
      expect(late.ready()).toEqual([]);
    } finally {
      await late.stop();
    }
  }, 180_000);

  it('a start that is stopped while waiting gives up with a typed error', async () => {
    await broker.kill();
    const p = createProjector({ topicPrefix: stack.topicPrefix, generation: 'never', partitions: PARTITIONS, kafka: client('never'), mongoUrl: stack.endpoints.mongoUrl, mongoDbName: stack.dbName });
    const started = p.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    try {
      await waitFor(() => p.ready().some((r) => r.startsWith('waiting for Kafka')), { timeoutMs: 30_000, what: 'waiting' });
      await p.stop();
      expect(isThreadlogError(await started)).toBe(true);
    } finally {
      await broker.restart();
    }
  }, 120_000);
});
