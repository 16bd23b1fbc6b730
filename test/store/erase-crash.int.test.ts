/**
 * kill -9 in the middle of an erasure (issue 15): a process erasing a thread is frozen at each
 * step in turn and killed with SIGKILL. Before the key is destroyed the thread stays fully
 * readable; from then on every read is not found, even before the erasure reaches the log.
 * A rerun finishes what is missing (the thread-erased event, the projection, Redis) and never
 * logs the erasure twice.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLocalKeyProvider, type CheckpointStore } from '../../src/index.ts';
import { readThreadLog } from '../../src/kafka/thread-reader.ts';
import { checkpointsTopic } from '../../src/kafka/topics.ts';
import { createEventCodec } from '../../src/events/codec.ts';
import { KEYS_COLLECTION } from '../../src/mongo/key-store.ts';
import { idRange } from '../../src/projection/ids.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { stackEnvVars } from '../support/stack-env.ts';
import { checkpoint, GENERATION, openStore, PARTITIONS, startProjector } from './helpers.ts';

const stack = useIsolatedStack();
const root = path.resolve(import.meta.dirname, '../..');
const masterKey = randomBytes(32);
const encryption = () => ({ encryption: { keyProvider: createLocalKeyProvider(masterKey) } });
let writer: CheckpointStore;
let reader: CheckpointStore;

/** runs the erasure in its own process, frozen at `stopAt` (a log line of store/erase.ts), then SIGKILLed */
async function eraseAndKill(threadId: string, stopAt: string): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test/store/fixtures/erase-child.ts')], {
    cwd: root,
    env: { ...process.env, ...stackEnvVars(stack), THREADLOG_GENERATION: GENERATION, THREADLOG_PARTITIONS: String(PARTITIONS), ERASE_MASTER_KEY: masterKey.toString('hex'), ERASE_THREAD: threadId, ERASE_STOP_AT: stopAt },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  try {
    await waitFor(() => out.includes(`AT ${stopAt}`) || child.exitCode !== null, { timeoutMs: 60_000, what: `the erasure reaching "${stopAt}"` });
    expect(out + err, 'the child froze at the step').toContain(`AT ${stopAt}`);
  } finally {
    child.kill('SIGKILL');
  }
  expect(await exited).toBe('SIGKILL');
}

async function erasuresInLog(threadId: string): Promise<number> {
  const log = await readThreadLog({ kafka: stack.kafka, topic: checkpointsTopic(stack.topicPrefix), threadId, codec: createEventCodec() });
  return log.events.filter((e) => e.event.type === 'thread-erased').length;
}

async function writeSome(threadId: string): Promise<void> {
  const first = checkpoint({ messages: ['one'] }, 1);
  await writer.save({ threadId, checkpoint: first, metadata: { source: 'loop', step: 1, parents: {} } });
  await writer.save({ threadId, checkpoint: checkpoint({ messages: ['one', 'two'] }, 2), metadata: { source: 'loop', step: 2, parents: {} }, parentCheckpointId: first.id });
  expect(await reader.load({ threadId }, { consistency: 'strong' })).toBeDefined();
}

const projected = async (threadId: string): Promise<number> =>
  (await stack.mongo()).db(stack.dbName).collection<{ _id: string }>(`${GENERATION}_checkpoints`).countDocuments({ _id: idRange('cp', threadId) });

beforeAll(async () => {
  await startProjector(stack);
  writer = await openStore(stack, encryption());
  reader = await openStore(stack, encryption());
});

describe('kill -9 during an erasure', () => {
  it('before the key is destroyed: the thread is fully readable; a rerun erases it', async () => {
    const threadId = stack.unique('before-key');
    await writeSome(threadId);
    await eraseAndKill(threadId, 'erasure: destroying the data key');
    const fresh = await openStore(stack, encryption());
    for (const s of [reader, fresh]) expect((await s.load({ threadId }, { consistency: 'strong' }))?.checkpoint.channel_values).toEqual({ messages: ['one', 'two'] });
    expect(await erasuresInLog(threadId)).toBe(0);

    const r = await writer.eraseThread(threadId, { timeoutMs: 30_000 });
    expect(r).toMatchObject({ alreadyErased: false, projected: true });
    expect(await reader.load({ threadId }, { consistency: 'strong' })).toBeUndefined();
  });

  it('after the key is destroyed, before the log has the erasure: nothing reads it; a rerun logs it once and clears the projection', async () => {
    const threadId = stack.unique('after-key');
    await writeSome(threadId);
    await eraseAndKill(threadId, 'erasure: data key destroyed');
    const fresh = await openStore(stack, encryption());
    // the reader had the key cached: the invalidation it never got is made up by the key-cache TTL; a fresh store asks the key store
    for (const consistency of ['eventual', 'session', 'strong'] as const) expect(await fresh.load({ threadId }, { consistency })).toBeUndefined();
    expect(await erasuresInLog(threadId)).toBe(0);
    const keyDoc = await (await stack.mongo()).db(stack.dbName).collection<{ _id: string }>(KEYS_COLLECTION).findOne({ _id: threadId });
    expect(keyDoc).toMatchObject({ state: 'erased' });
    expect(keyDoc).not.toHaveProperty('wrapped');
    expect(keyDoc).not.toHaveProperty('logged');

    const r = await writer.eraseThread(threadId, { timeoutMs: 30_000 });
    expect(r).toMatchObject({ alreadyErased: true, projected: true });
    expect(await erasuresInLog(threadId)).toBe(1);
    expect(await projected(threadId)).toBe(0);
    // the rerun announced it: the running reader that had the key cached answers not found too
    await waitFor(async () => (await reader.load({ threadId }, { consistency: 'strong' })) === undefined, { what: 'the running reader told of the erasure' });
  });

  it('after the erasure is logged, before the caches are cleared: a rerun does not log it again', async () => {
    const threadId = stack.unique('after-log');
    await writeSome(threadId);
    await eraseAndKill(threadId, 'erasure: logged');
    const fresh = await openStore(stack, encryption());
    expect(await fresh.load({ threadId }, { consistency: 'strong' })).toBeUndefined();
    expect(await erasuresInLog(threadId)).toBe(1);
    await waitFor(async () => (await projected(threadId)) === 0, { timeoutMs: 30_000, what: 'the projector applying the logged erasure' });

    const r = await writer.eraseThread(threadId, { timeoutMs: 30_000 });
    expect(r).toMatchObject({ alreadyErased: true, projected: true });
    expect(await erasuresInLog(threadId)).toBe(1);
  });
});
