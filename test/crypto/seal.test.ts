/**
 * Sealing (crypto/seal.ts) and the local key provider: what is sealed and what stays in clear,
 * round trips, and every way a sealed byte string is refused (another thread, another purpose,
 * a flipped bit, a short or unknown format) as a typed error.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLocalKeyProvider, localKeyId, parseMasterKey } from '../../src/crypto/key-provider.ts';
import { CLEAR_HEADER_FIELDS, SEAL_OVERHEAD, isSealedEvent, openBytes, openEvent, sealBytes, sealEvent } from '../../src/crypto/seal.ts';
import { isThreadlogError } from '../../src/errors.ts';
import { schemaFor, type CheckpointEvent, type WritesEvent } from '../../src/events/types.ts';
import { createEventCodec } from '../../src/events/codec.ts';

const key = createSecretKey(randomBytes(32));
const marker = 'MARKER-7f3a';
const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8');
/** byte strings as hex: Buffer and Uint8Array of the same bytes compare equal */
const norm = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? Buffer.from(x).toString('hex') : (x as { type?: string })?.type === 'Buffer' ? Buffer.from((x as { data: number[] }).data).toString('hex') : x)));
const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
};

const cpEvent = (): CheckpointEvent => ({
  type: 'checkpoint',
  eventId: 'e1',
  threadId: 't1',
  ts: 1_700_000_000_000,
  checkpointNs: '',
  checkpointId: '1ef-0001',
  parentCheckpointId: '1ef-0000',
  checkpoint: { v: 4, id: '1ef-0001', ts: '2026-12-07T00:00:00.000Z', channel_versions: { messages: 2, log: 3 }, versions_seen: {}, extra_note: marker } as never,
  metadata: { source: 'loop', step: 1, parents: {}, user: marker } as never,
  values: [
    { kind: 'snapshot', channel: 'messages', version: 2, value: { type: 'json', value: bytes(`["${marker}"]`) } },
    { kind: 'append', channel: 'log', version: 3, base: 2, depth: 1, baseCheckpoint: '1ef-0000', items: [{ type: 'json', value: bytes(`["${marker}"]`) }] },
  ],
});

describe('sealBytes / openBytes', () => {
  it('round-trips with a fresh nonce each time and a fixed overhead', () => {
    const a = sealBytes(key, 't1', 'value', bytes(marker));
    const b = sealBytes(key, 't1', 'value', bytes(marker));
    expect(a.length).toBe(marker.length + SEAL_OVERHEAD);
    expect(a.equals(b)).toBe(false);
    expect(a.includes(Buffer.from(marker))).toBe(false);
    expect(openBytes(key, 't1', 'value', a).toString()).toBe(marker);
  });

  it('never repeats a nonce, across refills of the nonce pool', () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 2_000; i++) nonces.add(sealBytes(key, 't1', 'value', bytes('x')).subarray(1, 13).toString('hex'));
    expect(nonces.size).toBe(2_000);
  });

  it('refuses another thread, another purpose, another key, a flipped bit, a short or unknown string', () => {
    const s = sealBytes(key, 't1', 'value', bytes(marker));
    const flipped = Buffer.from(s);
    flipped[5] = flipped[5]! ^ 1;
    const unknown = Buffer.from(s);
    unknown[0] = 9;
    for (const f of [
      () => openBytes(key, 't2', 'value', s),
      () => openBytes(key, 't1', 'fields', s),
      () => openBytes(createSecretKey(randomBytes(32)), 't1', 'value', s),
      () => openBytes(key, 't1', 'value', flipped),
      () => openBytes(key, 't1', 'value', s.subarray(0, 10)),
      () => openBytes(key, 't1', 'value', unknown),
    ]) {
      expect(isThreadlogError(thrown(f), 'corrupt-event')).toBe(true);
    }
  });
});

describe('sealEvent / openEvent', () => {
  it('seals values, appended items, metadata and extra header fields; leaves ids, versions, times in clear', async () => {
    const e = cpEvent();
    const sealed = sealEvent(e, key) as CheckpointEvent;
    expect(isSealedEvent(sealed)).toBe(true);
    expect(schemaFor(sealed)).toBe(3);
    expect(sealed.metadata).toEqual({});
    expect(Object.keys(sealed.checkpoint).sort()).toEqual([...CLEAR_HEADER_FIELDS].sort());
    expect(sealed.checkpointId).toBe(e.checkpointId);
    expect(sealed.parentCheckpointId).toBe(e.parentCheckpointId);
    // on the wire (the bytes Kafka stores): no plaintext
    const codec = createEventCodec({ compressionThreshold: 1 << 30 });
    const records = await codec.encode(sealed);
    expect(records).toHaveLength(1);
    for (const r of records) expect(r.value.includes(Buffer.from(marker))).toBe(false);
    const decoded = await codec.decode(records[0]!);
    expect(norm(openEvent(decoded, key))).toEqual(norm(e));
  });

  it('does not try to compress ciphertext: an event that is mostly sealed values is stored as it is', async () => {
    const big = { ...cpEvent(), values: [{ kind: 'snapshot' as const, channel: 'messages', version: 2, value: { type: 'json', value: bytes(JSON.stringify([marker.repeat(500)])) } }] };
    big.checkpoint = { ...big.checkpoint, channel_versions: { messages: 2 } };
    const codec = createEventCodec();
    expect((await codec.encode(big))[0]!.headers['tl-encoding']).toBe('zstd');
    expect((await codec.encode(sealEvent(big, key)))[0]!.headers['tl-encoding']).toBe('identity');
  });

  it('seals pending writes; leaves deletes alone; an unsealed event stays schema 2', () => {
    const w: WritesEvent = { type: 'writes', eventId: 'w1', threadId: 't1', ts: 1, checkpointNs: '', checkpointId: 'c', taskId: 'x', taskPath: '', writes: [{ idx: 0, channel: 'm', value: { type: 'json', value: bytes(`"${marker}"`) } }] };
    const sw = sealEvent(w, key) as WritesEvent;
    expect(sw.writes[0]!.value.type).toBe('sealed:json');
    expect(norm(openEvent(sw, key))).toEqual(norm(w));
    expect(schemaFor(w)).toBe(2);
    const del = { type: 'thread-deleted' as const, eventId: 'd', threadId: 't1', ts: 1 };
    expect(sealEvent(del, key)).toBe(del);
  });
});

describe('the local key provider', () => {
  it('parses 32 raw bytes, hex and base64, and refuses anything else with the command that makes one', () => {
    const raw = randomBytes(32);
    expect(parseMasterKey(raw).equals(raw)).toBe(true);
    expect(parseMasterKey(`${raw.toString('hex')}\n`).equals(raw)).toBe(true);
    expect(parseMasterKey(raw.toString('base64')).equals(raw)).toBe(true);
    const e = thrown(() => parseMasterKey('too short'));
    expect(isThreadlogError(e, 'invalid-options')).toBe(true);
    expect((e as Error).message).toContain('openssl rand -hex 32');
  });

  it('wraps per thread: unwraps only for the same thread and master key', async () => {
    const mk = randomBytes(32);
    const p = createLocalKeyProvider(mk);
    expect(p.keyId).toBe(localKeyId(mk));
    expect(p.keyId).not.toContain(mk.toString('hex').slice(0, 8));
    const dk = randomBytes(32);
    const wrapped = await p.wrap(dk, { threadId: 't1' });
    expect(Buffer.from(await p.unwrap(wrapped, { threadId: 't1' })).equals(dk)).toBe(true);
    const other = createLocalKeyProvider(randomBytes(32));
    for (const attempt of [p.unwrap(wrapped, { threadId: 't2' }), other.unwrap(wrapped, { threadId: 't1' }), p.unwrap(Buffer.from(wrapped).subarray(1), { threadId: 't1' })]) {
      expect(isThreadlogError(await attempt.then(() => undefined, (x: unknown) => x), 'wrong-master-key')).toBe(true);
    }
  });
});
