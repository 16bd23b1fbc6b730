/**
 * Encryption and erasure on the real stack (docs/security.md): what MongoDB and Redis hold of
 * an encrypted thread is sealed; reads open it (also lists filtered on metadata, across
 * threads too); eraseThread makes every read at every consistency level answer not found —
 * in this store, another store and a store started later — drops the thread from the
 * projection and Redis, refuses later saves, keeps a late event out of readable state, and
 * repeats harmlessly. Bad inputs are typed errors: no encryption, wrong master key, a key
 * that is missing, tampered ciphertext.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it, beforeAll } from 'vitest';
import { Binary, type Db } from 'mongodb';
import { createLocalKeyProvider, isThreadlogError, type CheckpointStore, type KeyProvider } from '../../src/index.ts';
import { createEventCodec } from '../../src/events/codec.ts';
import { checkpointsTopic } from '../../src/kafka/topics.ts';
import { createAppender } from '../../src/kafka/appender.ts';
import { KEYS_COLLECTION } from '../../src/mongo/key-store.ts';
import { ids, idRange } from '../../src/projection/ids.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { checkpoint, collect, GENERATION, openStore, PARTITIONS, startProjector } from './helpers.ts';

const stack = useIsolatedStack();
const masterKey = randomBytes(32);
const provider = (): KeyProvider => createLocalKeyProvider(masterKey);
let a: CheckpointStore;
let b: CheckpointStore;
let db: Db;
const meta = (step: number, extra: Record<string, unknown> = {}) => ({ source: 'loop' as const, step, parents: {}, ...extra });

const errorOf = async (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);
const col = (kind: string) => db.collection<{ _id: string }>(`${GENERATION}_${kind}`);

/** every Redis value under this file's prefix, as raw bytes */
async function redisBytes(): Promise<Buffer[]> {
  const r = stack.redis();
  const out: Buffer[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${stack.redisPrefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) {
      const type = await r.type(k);
      if (type === 'string') out.push((await r.getBuffer(k)) ?? Buffer.alloc(0));
      else if (type === 'hash') out.push(...Object.values(await r.hgetallBuffer(k)));
      else if (type === 'set') out.push(...(await r.smembersBuffer(k)));
    }
  } while (cursor !== '0');
  return out;
}

beforeAll(async () => {
  await startProjector(stack);
  a = await openStore(stack, { encryption: { keyProvider: provider() } });
  b = await openStore(stack, { encryption: { keyProvider: provider() } });
  db = (await stack.mongo()).db(stack.dbName);
});

describe('an encrypted thread', () => {
  it('is sealed in MongoDB and Redis, and reads back whole — own writes, another store, lists and filters', async () => {
    const threadId = stack.unique('sealed');
    const secret = `secret-${randomBytes(8).toString('hex')}`;
    const first = checkpoint({ messages: [`hello ${secret}`], counter: 1 }, 1);
    await a.save({ threadId, checkpoint: first, metadata: meta(1, { user: secret }) });
    const second = checkpoint({ messages: [`hello ${secret}`, `again ${secret}`], counter: 2 }, 2);
    await a.save({ threadId, checkpoint: second, metadata: meta(2, { user: secret }), parentCheckpointId: first.id });
    await a.putWrites({ threadId, checkpointId: second.id, taskId: 't1', writes: [['messages', `pending ${secret}`]] });

    expect((await a.load({ threadId }))?.checkpoint.channel_values).toEqual(second.channel_values);
    const fromB = await waitFor(async () => {
      const got = await b.load({ threadId }, { consistency: 'strong' });
      return got?.pendingWrites.length === 1 ? got : undefined;
    });
    expect(fromB?.checkpoint.channel_values).toEqual(second.channel_values);
    expect(fromB?.metadata).toEqual(meta(2, { user: secret }));
    expect(fromB?.pendingWrites).toEqual([{ taskId: 't1', channel: 'messages', value: `pending ${secret}` }]);

    // lists: per thread with a filter, across threads with a filter (MongoDB cannot match sealed metadata)
    expect((await collect(b.list({ threadId, filter: { step: 1 } }))).map((c) => c.checkpointId)).toEqual([first.id]);
    expect((await collect(b.list({ filter: { user: secret } }))).map((c) => c.checkpointId)).toEqual([second.id, first.id]);
    expect((await collect(b.list({ filter: { user: secret }, limit: 1 }))).map((c) => c.checkpointId)).toEqual([second.id]);
    expect((await collect(b.stream(threadId))).map((c) => c.metadata)).toEqual([meta(1, { user: secret }), meta(2, { user: secret })]);

    // at rest: nothing of it in the clear
    const docs = [...(await col('checkpoints').find({ _id: idRange('cp', threadId) }).toArray()), ...(await col('writes').find({ _id: idRange('w', threadId) }).toArray()), ...(await col('heads').find({ _id: idRange('head', threadId) }).toArray())];
    expect(docs.length).toBeGreaterThanOrEqual(4);
    const text = JSON.stringify(docs, (_k, v: unknown) => (v instanceof Binary ? Buffer.from(v.buffer).toString('latin1') : v));
    expect(text).not.toContain(secret);
    expect(text).toContain('sealed:json');
    const cached = await redisBytes();
    expect(cached.length).toBeGreaterThan(0);
    expect(cached.some((buf) => buf.includes(secret))).toBe(false);
    expect(cached.some((buf) => buf.subarray(0, 4).toString() === 'TLX1')).toBe(true);
  });

  it('a store without the master key refuses its data with a typed error, never wrong data', async () => {
    const threadId = stack.unique('nokey');
    const cp = checkpoint({ messages: ['x'] }, 1);
    await a.save({ threadId, checkpoint: cp, metadata: meta(1) });
    const plain = await openStore(stack);
    const e = await waitFor(async () => errorOf(plain.load({ threadId, checkpointId: cp.id }, { consistency: 'strong' })));
    expect(isThreadlogError(e, 'encryption-disabled')).toBe(true);
  });

  it('a store with another master key: wrong-master-key; a key lost from the key store: missing-thread-key', async () => {
    const threadId = stack.unique('wrongkey');
    const cp = checkpoint({ messages: ['x'] }, 1);
    await a.save({ threadId, checkpoint: cp, metadata: meta(1) });
    await a.load({ threadId }, { consistency: 'strong' });
    const other = await openStore(stack, { encryption: { keyProvider: createLocalKeyProvider(randomBytes(32)) } });
    const wrong = await errorOf(other.load({ threadId, checkpointId: cp.id }, { consistency: 'strong' }));
    expect(isThreadlogError(wrong, 'wrong-master-key')).toBe(true);
    expect((wrong as Error).message).toContain('threadlog keys rotate');
    // the same id, another key: the unwrap fails its authentication
    const impostor = await openStore(stack, { encryption: { keyProvider: createLocalKeyProvider(randomBytes(32), { keyId: provider().keyId }) } });
    expect(isThreadlogError(await errorOf(impostor.load({ threadId, checkpointId: cp.id }, { consistency: 'strong' })), 'wrong-master-key')).toBe(true);

    const keys = db.collection<{ _id: string }>(KEYS_COLLECTION);
    const keyDoc = await keys.findOne({ _id: threadId });
    await keys.deleteOne({ _id: threadId });
    const fresh = await openStore(stack, { encryption: { keyProvider: provider() } });
    expect(isThreadlogError(await errorOf(fresh.load({ threadId, checkpointId: cp.id }, { consistency: 'strong' })), 'missing-thread-key')).toBe(true);
    // put it back: cross-thread lists of the other tests would fail on this thread, as they should
    await keys.insertOne(keyDoc!);
  });

  it('tampered ciphertext in MongoDB is a corrupt-event error, never other data', async () => {
    const threadId = stack.unique('tamper');
    const cp = checkpoint({ messages: ['original'] }, 1);
    await a.save({ threadId, checkpoint: cp, metadata: meta(1) });
    await a.load({ threadId }, { consistency: 'strong' });
    const doc = (await col('checkpoints').findOne({ _id: idRange('cp', threadId) })) as unknown as { _id: string; values: Array<{ value: { value: Binary } }> };
    const bytes = Buffer.from(doc.values[0]!.value.value.buffer);
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0x01;
    await col('checkpoints').updateOne({ _id: doc._id }, { $set: { 'values.0.value.value': new Binary(bytes) } });
    // a store with cold caches, so the read goes to MongoDB
    const fresh = await openStore(stack, { encryption: { keyProvider: provider() }, redis: false });
    const e = await errorOf(fresh.load({ threadId, checkpointId: cp.id }, { consistency: 'strong' }));
    expect(isThreadlogError(e, 'corrupt-event')).toBe(true);
    expect((e as Error).message).toContain('does not authenticate');
    // put it back: cross-thread lists of the other tests would fail on this thread, as they should
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0x01;
    await col('checkpoints').updateOne({ _id: doc._id }, { $set: { 'values.0.value.value': new Binary(bytes) } });
  });
});

describe('eraseThread', () => {
  it('makes every read answer not found, in every store, empties the projection and Redis, and refuses later saves', async () => {
    const threadId = stack.unique('erase');
    const first = checkpoint({ messages: ['one'] }, 1);
    const second = checkpoint({ messages: ['one', 'two'] }, 2);
    await a.save({ threadId, checkpoint: first, metadata: meta(1) });
    await a.save({ threadId, checkpoint: second, metadata: meta(2), parentCheckpointId: first.id });
    await a.putWrites({ threadId, checkpointId: second.id, taskId: 't', writes: [['messages', 'w']] });
    // b has it in L1 and Redis has its entries
    const seen = await waitFor(async () => (await b.load({ threadId }, { consistency: 'strong' }))?.pendingWrites.length === 1);
    expect(seen).toBe(true);
    expect(await b.load({ threadId, checkpointId: first.id }, { consistency: 'eventual' })).toBeDefined();

    const result = await a.eraseThread(threadId, { timeoutMs: 30_000 });
    expect(result).toMatchObject({ threadId, hadNoKey: false, alreadyErased: false, projected: true });

    for (const store of [a, b, await openStore(stack, { encryption: { keyProvider: provider() } })]) {
      for (const consistency of ['eventual', 'session', 'strong'] as const) {
        expect(await store.load({ threadId }, { consistency }), consistency).toBeUndefined();
        expect(await store.load({ threadId, checkpointId: first.id }, { consistency }), consistency).toBeUndefined();
      }
      expect(await collect(store.list({ threadId }))).toEqual([]);
      expect(await collect(store.stream(threadId))).toEqual([]);
      expect((await collect(store.list({ limit: 1000 }))).filter((c) => c.threadId === threadId)).toEqual([]);
    }
    // the projection: only lane chains and the tombstone (the audit still verifies them)
    expect(await col('checkpoints').countDocuments({ _id: idRange('cp', threadId) })).toBe(0);
    expect(await col('writes').countDocuments({ _id: idRange('w', threadId) })).toBe(0);
    const tomb = await col('tombstones').findOne({ _id: ids.tombstone(threadId) });
    expect((tomb as { erased?: unknown } | null)?.erased).toBeDefined();
    const heads = await col('heads').find({ _id: idRange('head', threadId) }).toArray();
    expect(heads.every((h) => (h as { head?: unknown }).head === undefined)).toBe(true);
    // Redis: no entry of the thread is left
    const left = await stack.redis().keys(`${stack.redisPrefix}*${threadId}*`);
    expect(left.filter((k) => !k.includes(':tomb'))).toEqual([]);

    const refused = await errorOf(b.save({ threadId, checkpoint: checkpoint({ messages: ['late'] }, 3), metadata: meta(3) }));
    expect(isThreadlogError(refused, 'thread-erased')).toBe(true);
    expect(isThreadlogError(await errorOf(a.putWrites({ threadId, checkpointId: second.id, taskId: 'x', writes: [['messages', 'late']] })), 'thread-erased')).toBe(true);

    // a rerun: nothing new in the log, same erasure
    const again = await a.eraseThread(threadId);
    expect(again).toMatchObject({ alreadyErased: true, position: result.position, erasedAt: result.erasedAt });
  });

  it('a late event appended after the erasure (a writer that did not know) is never projected into readable state', async () => {
    const threadId = stack.unique('late');
    const cp = checkpoint({ messages: ['one'] }, 1);
    await a.save({ threadId, checkpoint: cp, metadata: meta(1) });
    const erased = await a.eraseThread(threadId, { timeoutMs: 30_000 });
    // a foreign or unencrypted writer: a plain event straight to the log
    const codec = createEventCodec();
    const appender = createAppender({ kafka: stack.kafka, topic: checkpointsTopic(stack.topicPrefix), partitions: PARTITIONS });
    const late = checkpoint({ messages: ['late'] }, 2);
    const { channel_values: _v, ...header } = late;
    let receipt;
    try {
      receipt = await appender.append(await codec.encode({ type: 'checkpoint', eventId: 'late-1', threadId, ts: Date.now(), checkpointNs: '', checkpointId: late.id, parentCheckpointId: undefined, checkpoint: header as never, metadata: {}, values: [{ kind: 'snapshot', channel: 'messages', version: 2, value: await codec.serialize(['late']) }] }));
    } finally {
      await appender.close();
    }
    expect(BigInt(receipt.offset)).toBeGreaterThan(BigInt(erased.position.offset));
    // once the projection is past it: still nothing, in MongoDB or through any read
    const plainReader = await openStore(stack);
    await plainReader.load({ threadId }, { consistency: 'strong' });
    expect(await col('checkpoints').countDocuments({ _id: idRange('cp', threadId) })).toBe(0);
    expect(await plainReader.load({ threadId }, { consistency: 'strong' })).toBeUndefined();
    expect(await a.load({ threadId }, { consistency: 'strong' })).toBeUndefined();
  });

  it('refuses without encryption, naming the setting', async () => {
    const plain = await openStore(stack);
    const threadId = stack.unique('plain');
    await plain.save({ threadId, checkpoint: checkpoint({ messages: ['x'] }, 1), metadata: meta(1) });
    const e = await errorOf(plain.eraseThread(threadId));
    expect(isThreadlogError(e, 'encryption-disabled')).toBe(true);
    expect((e as Error).message).toContain('`encryption`');
    expect(await plain.load({ threadId })).toBeDefined();
  });
});
