/**
 * `threadlog erase` and `threadlog keys rotate` against the real stack: erase with the master
 * key from a file, refusal without one (naming the setting), and a master-key rotation that
 * re-wraps every data key without touching the log — old and new events read with the new key
 * alone, the old key alone no longer opens them, an erased thread stays erased.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { eraseCommand, rotateCommand } from '../../src/cli/security.ts';
import { createLocalKeyProvider, isThreadlogError } from '../../src/index.ts';
import { KEYS_COLLECTION } from '../../src/mongo/key-store.ts';
import { checkpointsTopic } from '../../src/kafka/topics.ts';
import { useIsolatedStack } from '../support/isolation.ts';
import { checkpoint, openStore, startProjector } from '../store/helpers.ts';
import { capture, stackEnv } from './helpers.ts';

const stack = useIsolatedStack();
const dir = mkdtempSync(path.join(tmpdir(), 'threadlog-keys-'));
const keyFile = (name: string, key: Buffer): string => {
  const f = path.join(dir, name);
  writeFileSync(f, key.toString('hex') + '\n', { mode: 0o600 });
  return f;
};
const oldKey = randomBytes(32);
const newKey = randomBytes(32);
const oldFile = keyFile('old.key', oldKey);
const newFile = keyFile('new.key', newKey);
const meta = (step: number) => ({ source: 'loop' as const, step, parents: {} });
const errorOf = async (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);

beforeAll(async () => {
  await startProjector(stack);
});

describe('threadlog erase', () => {
  it('erases a thread with the master key from a file; every store then reads it as absent', async () => {
    const threadId = stack.unique('cli-erase');
    const writer = await openStore(stack, { encryption: { keyProvider: createLocalKeyProvider(oldKey) } });
    const cp = checkpoint({ messages: ['to be erased'] }, 1);
    await writer.save({ threadId, checkpoint: cp, metadata: meta(1) });
    expect(await writer.load({ threadId }, { consistency: 'strong' })).toBeDefined();

    const io = capture();
    expect(await eraseCommand(stackEnv(stack, { THREADLOG_MASTER_KEY_FILE: oldFile }), threadId, { json: true, timeoutMs: 30_000 }, io)).toBe(0);
    expect(io.json()).toMatchObject({ threadId, alreadyErased: false, hadNoKey: false, projected: true });
    for (const consistency of ['eventual', 'session', 'strong'] as const) expect(await writer.load({ threadId }, { consistency })).toBeUndefined();
    // a rerun says so
    const again = capture();
    expect(await eraseCommand(stackEnv(stack, { THREADLOG_MASTER_KEY_FILE: oldFile }), threadId, {}, again)).toBe(0);
    expect(again.stdout).toContain('was already erased');
  });

  it('without a master key it refuses, naming the setting, and the thread stays readable', async () => {
    const threadId = stack.unique('cli-plain');
    const plain = await openStore(stack);
    await plain.save({ threadId, checkpoint: checkpoint({ messages: ['kept'] }, 1), metadata: meta(1) });
    const io = capture();
    expect(await eraseCommand(stackEnv(stack), threadId, {}, io)).toBe(2);
    expect(io.stderr).toContain('encryption is off');
    expect(io.stderr).toContain('THREADLOG_MASTER_KEY_FILE');
    expect(await plain.load({ threadId }, { consistency: 'strong' })).toBeDefined();
  });
});

describe('threadlog keys rotate', () => {
  it('re-wraps every data key with the new master key without touching the log', async () => {
    const before = stack.unique('rot-old');
    const erased = stack.unique('rot-erased');
    const oldStore = await openStore(stack, { encryption: { keyProvider: createLocalKeyProvider(oldKey) } });
    const first = checkpoint({ messages: ['written under the old key'] }, 1);
    await oldStore.save({ threadId: before, checkpoint: first, metadata: meta(1) });
    await oldStore.save({ threadId: erased, checkpoint: checkpoint({ messages: ['gone'] }, 1), metadata: meta(1) });
    await oldStore.eraseThread(erased, { timeoutMs: 30_000 });

    const admin = await stack.admin();
    const topic = checkpointsTopic(stack.topicPrefix);
    const offsetsBefore = await admin.fetchTopicOffsets(topic);

    // without the old key the rotation refuses, naming what to pass
    const missing = capture();
    expect(await rotateCommand(stackEnv(stack, { THREADLOG_MASTER_KEY_FILE: newFile }), { json: true }, missing)).toBe(2);
    expect(missing.stderr).toContain('THREADLOG_PREVIOUS_MASTER_KEY_FILES');

    const io = capture();
    expect(await rotateCommand(stackEnv(stack, { THREADLOG_MASTER_KEY_FILE: newFile, THREADLOG_PREVIOUS_MASTER_KEY_FILES: oldFile }), { json: true }, io)).toBe(0);
    const r = io.json<{ rewrapped: number; masterKeyId: string }>();
    expect(r.rewrapped).toBeGreaterThanOrEqual(1);
    expect(r.masterKeyId).toBe(createLocalKeyProvider(newKey).keyId);
    // the log: not one record more
    expect(await admin.fetchTopicOffsets(topic)).toEqual(offsetsBefore);
    const db = (await stack.mongo()).db(stack.dbName);
    const keys = await db.collection<{ _id: string; state: string; masterKeyId?: string }>(KEYS_COLLECTION).find({}).toArray();
    expect(keys.filter((k) => k.state === 'active').every((k) => k.masterKeyId === r.masterKeyId)).toBe(true);
    expect(keys.find((k) => k._id === erased)).toMatchObject({ state: 'erased' });

    // the new key alone reads the old events and writes new ones; the old key alone no longer opens them
    const newStore = await openStore(stack, { encryption: { keyProvider: createLocalKeyProvider(newKey) } });
    expect((await newStore.load({ threadId: before, checkpointId: first.id }, { consistency: 'strong' }))?.checkpoint.channel_values).toEqual(first.channel_values);
    const second = checkpoint({ messages: ['written under the old key', 'and one under the new'] }, 2);
    await newStore.save({ threadId: before, checkpoint: second, metadata: meta(2), parentCheckpointId: first.id });
    expect((await newStore.load({ threadId: before }, { consistency: 'strong' }))?.checkpoint.channel_values).toEqual(second.channel_values);
    expect(await newStore.load({ threadId: erased }, { consistency: 'strong' })).toBeUndefined();
    const stale = await openStore(stack, { encryption: { keyProvider: createLocalKeyProvider(oldKey) }, redis: false });
    expect(isThreadlogError(await errorOf(stale.load({ threadId: before, checkpointId: first.id }, { consistency: 'strong' })), 'wrong-master-key')).toBe(true);

    // a rerun has nothing left to do
    const rerun = capture();
    expect(await rotateCommand(stackEnv(stack, { THREADLOG_MASTER_KEY_FILE: newFile, THREADLOG_PREVIOUS_MASTER_KEY_FILES: oldFile }), { json: true }, rerun)).toBe(0);
    expect(rerun.json()).toMatchObject({ rewrapped: 0 });
  });
});
