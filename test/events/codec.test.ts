import { describe, expect, it } from 'vitest';
import { isThreadlogError, type ThreadlogErrorCode } from '../../src/errors.ts';
import {
  createChunkAssembler,
  createEventCodec,
  headerNames,
  storedBytes,
  type EncodedRecord,
  type RawRecord,
  type ThreadlogEvent,
} from '../../src/events/index.ts';
import { buildEnvelope } from '../../src/events/envelope.ts';
import { crc32Hex } from '../../src/events/wire.ts';
import { bytes, checkpointEvent, deletedEvent, json, plain, writesEvent } from './fixtures.ts';

const codec = createEventCodec();

async function expectCode(p: Promise<unknown>, code: ThreadlogErrorCode): Promise<void> {
  const e: unknown = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isThreadlogError(e), `expected a ThreadlogError ${code}, got ${String(e)}`).toBe(true);
  expect((e as { code: string }).code).toBe(code);
}

/** As kafkajs hands a record back: key and header values as Buffers. */
function asConsumed(r: EncodedRecord): RawRecord {
  const headers: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(r.headers)) headers[k] = Buffer.from(v);
  return { key: Buffer.from(r.key), value: Buffer.from(r.value), headers };
}

async function roundTrip(event: ThreadlogEvent, c = codec): Promise<{ records: EncodedRecord[]; decoded: ThreadlogEvent }> {
  const records = await c.encode(event);
  expect(records).toHaveLength(1);
  return { records, decoded: await c.decode(asConsumed(records[0]!)) };
}

describe('event codec round-trip', () => {
  const small = {
    checkpoint: () => checkpointEvent({ metadata: { step: 1 }, values: [{ kind: 'snapshot', channel: 'counter', version: '0003.0.42', value: json(1) }] }),
    writes: () => writesEvent({ writes: [{ idx: 0, channel: 'x', value: json(1) }] }),
    'thread-deleted': () => deletedEvent(),
  };
  const big = {
    checkpoint: () => checkpointEvent(),
    writes: () => writesEvent(),
    'thread-deleted': () => deletedEvent({ threadId: 'x'.repeat(1000) }),
  };

  for (const [type, make] of Object.entries(small)) {
    it(`${type}: small event stays uncompressed`, async () => {
      const event = make();
      const { records, decoded } = await roundTrip(event, createEventCodec({ compressionThreshold: 1 << 20 }));
      const r = records[0]!;
      expect(r.key).toBe(event.threadId);
      expect(r.headers).toMatchObject({
        [headerNames.type]: type,
        [headerNames.schema]: '2',
        [headerNames.encoding]: 'identity',
        [headerNames.eventId]: event.eventId,
        [headerNames.crc32]: crc32Hex(r.value),
      });
      expect(r.value.subarray(0, 4)).toEqual(Buffer.from([0x54, 0x4c, 0x45, 2]));
      expect(plain(decoded)).toEqual(plain(event));
    });
  }

  for (const [type, make] of Object.entries(big)) {
    it(`${type}: event above the threshold is zstd-compressed`, async () => {
      const event = make();
      const { records, decoded } = await roundTrip(event, createEventCodec({ compressionThreshold: 16 }));
      expect(records[0]!.headers[headerNames.encoding]).toBe('zstd');
      expect(records[0]!.value.subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
      expect(plain(decoded)).toEqual(plain(event));
    });
  }

  it('keeps values exactly, byte for byte, including big and binary ones', async () => {
    const event = checkpointEvent({
      checkpoint: { ...checkpointEvent().checkpoint, channel_versions: { a: 1, b: 2, c: 3 } },
      values: [
        { kind: 'snapshot', channel: 'a', version: 1, value: bytes(300_000, true) },
        { kind: 'snapshot', channel: 'b', version: 2, value: json('x'.repeat(200_000)) },
        { kind: 'snapshot', channel: 'c', version: 3, value: { type: 'bytes', value: new Uint8Array(0) } },
      ],
    });
    const { decoded } = await roundTrip(event);
    expect(plain(decoded)).toEqual(plain(event));
  });

  it('leaves incompressible payloads uncompressed', async () => {
    const event = writesEvent({ writes: [{ idx: 0, channel: 'img', value: bytes(50_000, true) }] });
    const { records, decoded } = await roundTrip(event);
    expect(records[0]!.headers[headerNames.encoding]).toBe('identity');
    expect(plain(decoded)).toEqual(plain(event));
  });

  it('accepts string headers, a string key and a null key', async () => {
    const event = checkpointEvent();
    const [r] = await codec.encode(event);
    expect(plain(await codec.decode({ ...r!, key: null }))).toEqual(plain(event));
    expect(plain(await codec.decode(r!))).toEqual(plain(event));
  });

  it('gives the verified stored bytes for audits', async () => {
    const [r] = await codec.encode(checkpointEvent());
    const { raw } = await codec.decodeWithRaw(asConsumed(r!));
    expect(raw.equals(r!.value)).toBe(true);
    expect(storedBytes(asConsumed(r!)).equals(r!.value)).toBe(true);
  });

  it('serializes through the configured serializer, and back', async () => {
    const tv = await codec.serialize({ a: [1, 'two'], m: new Map([[1, 2]]) });
    expect(tv.type).toBe('json');
    expect(await codec.deserialize(tv)).toEqual({ a: [1, 'two'], m: new Map([[1, 2]]) });
  });
});

describe('event codec rejects what it cannot trust', () => {
  async function consumed(event: ThreadlogEvent = checkpointEvent()): Promise<RawRecord & { value: Buffer; headers: Record<string, Buffer> }> {
    const [r] = await codec.encode(event);
    return asConsumed(r!) as RawRecord & { value: Buffer; headers: Record<string, Buffer> };
  }

  it('unknown schema version', async () => {
    const r = await consumed();
    // schema 3 is known since encryption and erasures (types.ts): 9 is not
    r.headers[headerNames.schema] = Buffer.from('9');
    await expectCode(codec.decode(r), 'unsupported-schema-version');
  });

  it('a schema header that disagrees with the envelope is corrupt', async () => {
    const r = await consumed();
    r.headers[headerNames.schema] = Buffer.from('1');
    await expectCode(codec.decode(r), 'corrupt-event');
  });

  it('missing schema header is corrupt', async () => {
    const r = await consumed();
    delete r.headers[headerNames.schema];
    await expectCode(codec.decode(r), 'corrupt-event');
  });

  it('unknown event type in the header', async () => {
    const r = await consumed();
    r.headers[headerNames.type] = Buffer.from('checkpoint-v9');
    await expectCode(codec.decode(r), 'unknown-event-type');
  });

  it('unknown event type inside a well-formed envelope', async () => {
    const env = buildEnvelope(deletedEvent());
    const forged = Buffer.from(env.toString('latin1').replace('"thread-deleted"', '"thread-archived"'), 'latin1');
    forged.writeUInt32BE(env.readUInt32BE(4) + 1, 4);
    const r = await consumed(deletedEvent());
    await expectCode(
      codec.decode({ ...r, value: forged, headers: { ...r.headers, [headerNames.encoding]: 'identity', [headerNames.crc32]: crc32Hex(forged) } }),
      'unknown-event-type',
    );
  });

  it('a schema 2 append without baseCheckpoint is refused, written or read', async () => {
    const e = checkpointEvent();
    const append = e.values.find((v) => v.kind === 'append')!;
    const { baseCheckpoint: _named, ...anonymous } = append as typeof append & { baseCheckpoint?: string };
    await expect(codec.encode({ ...e, values: [anonymous] })).rejects.toMatchObject({ code: 'invalid-checkpoint', message: expect.stringMatching(/baseCheckpoint/) });
    // a producer elsewhere wrote one: the envelope decodes to an error, never to an event
    const env = buildEnvelope(e);
    const text = env.toString('latin1');
    const named = `,"baseCheckpoint":"${(append as { baseCheckpoint: string }).baseCheckpoint}"`;
    expect(text).toContain(named);
    const forged = Buffer.from(text.replace(named, ''), 'latin1');
    forged.writeUInt32BE(env.readUInt32BE(4) - named.length, 4);
    const r = await consumed(e);
    await expectCode(
      codec.decode({ ...r, value: forged, headers: { ...r.headers, [headerNames.encoding]: 'identity', [headerNames.crc32]: crc32Hex(forged) } }),
      'corrupt-event',
    );
  });

  it('a flipped byte fails the checksum', async () => {
    for (const event of [checkpointEvent(), deletedEvent()]) {
      const r = await consumed(event);
      r.value[Math.floor(r.value.length / 2)]! ^= 0x01;
      await expectCode(codec.decode(r), 'corrupt-event');
    }
  });

  it('a truncated payload is corrupt', async () => {
    const r = await consumed();
    await expectCode(codec.decode({ ...r, value: r.value.subarray(0, r.value.length - 10) }), 'corrupt-event');
  });

  it('a truncated payload with a recomputed checksum is still corrupt (zstd and identity)', async () => {
    for (const compressionThreshold of [16, 1 << 20]) {
      const c = createEventCodec({ compressionThreshold });
      const [r0] = await c.encode(checkpointEvent());
      const r = asConsumed(r0!);
      const cut = (r.value as Buffer).subarray(0, r.value!.length - 10);
      await expectCode(c.decode({ ...r, value: cut, headers: { ...r.headers, [headerNames.crc32]: crc32Hex(cut) } }), 'corrupt-event');
    }
  });

  it('garbage with a valid checksum is corrupt', async () => {
    const r = await consumed();
    for (const garbage of [Buffer.alloc(0), Buffer.from('hello world, not an envelope'), Buffer.from('TLE\x01\xff\xff\xff\xff', 'latin1')]) {
      const headers = { ...r.headers, [headerNames.encoding]: Buffer.from('identity'), [headerNames.crc32]: Buffer.from(crc32Hex(garbage)) };
      await expectCode(codec.decode({ ...r, value: garbage, headers }), 'corrupt-event');
    }
    await expectCode(codec.decode({ ...r, value: null }), 'corrupt-event');
    await expectCode(codec.decode({ ...r, headers: { ...r.headers, [headerNames.encoding]: Buffer.from('gzip') } }), 'corrupt-event');
  });

  it('a header that contradicts the envelope is corrupt', async () => {
    const r = await consumed();
    await expectCode(codec.decode({ ...r, key: 'another-thread' }), 'corrupt-event');
    await expectCode(codec.decode({ ...r, headers: { ...r.headers, [headerNames.eventId]: Buffer.from('nope') } }), 'corrupt-event');
    await expectCode(codec.decode({ ...r, headers: { ...r.headers, [headerNames.type]: Buffer.from('writes') } }), 'corrupt-event');
  });

  it('a value reference out of bounds is corrupt', async () => {
    const event = writesEvent({ writes: [{ idx: 0, channel: 'x', value: json(1) }] });
    const env = buildEnvelope(event);
    const jsonEnd = 8 + env.readUInt32BE(4);
    const cut = env.subarray(0, jsonEnd); // blobs gone
    const r = await consumed(event);
    await expectCode(
      codec.decode({ ...r, value: cut, headers: { ...r.headers, [headerNames.encoding]: 'identity', [headerNames.crc32]: crc32Hex(cut) } }),
      'corrupt-event',
    );
  });

  it('a lone chunk is not decoded as an event', async () => {
    const c = createEventCodec({ maxMessageBytes: 8192, compressionThreshold: 1 << 30 });
    const records = await c.encode(writesEvent({ writes: [{ idx: 0, channel: 'x', value: bytes(20_000) }] }));
    expect(records.length).toBeGreaterThan(1);
    await expectCode(c.decode(records[0]!), 'incomplete-chunks');
  });

  it('options are validated once', () => {
    expect(() => createEventCodec({ maxMessageBytes: 10 })).toThrow(expect.objectContaining({ code: 'invalid-options' }));
    expect(() => createEventCodec({ zstdLevel: 99 })).toThrow(expect.objectContaining({ code: 'invalid-options' }));
  });

  it('an event above maxEventBytes is refused before anything is written', async () => {
    const c = createEventCodec({ maxEventBytes: 10_000 });
    await expectCode(c.encode(writesEvent({ writes: [{ idx: 0, channel: 'x', value: bytes(20_000, true) }] })), 'payload-too-large');
  });
});

describe('chunking', () => {
  it('a 20 MiB checkpoint round-trips through encode, chunks, assembler and decode', async () => {
    const value = bytes(20 * 1024 * 1024, true);
    const event = checkpointEvent({
      checkpoint: { ...checkpointEvent().checkpoint, channel_versions: { big: 1 } },
      values: [{ kind: 'snapshot', channel: 'big', version: 1, value }],
    });
    const records = await codec.encode(event);
    expect(records.length).toBeGreaterThanOrEqual(21);
    const crc = records[0]!.headers[headerNames.crc32];
    records.forEach((r, i) => {
      expect(r.key).toBe(event.threadId);
      expect(r.headers[headerNames.chunkId]).toBe(event.eventId);
      expect(r.headers[headerNames.chunkIndex]).toBe(String(i));
      expect(r.headers[headerNames.chunkCount]).toBe(String(records.length));
      expect(r.headers[headerNames.crc32]).toBe(crc);
      // what Kafka would count: key + value + headers, under the limit
      const size = r.key.length + r.value.length + Object.entries(r.headers).reduce((n, [k, v]) => n + k.length + v.length, 0);
      expect(size).toBeLessThanOrEqual(codec.options.maxMessageBytes);
    });

    const assembler = createChunkAssembler();
    let done: RawRecord | undefined;
    records.forEach((r, i) => {
      const result = assembler.add({ ...asConsumed(r), offset: String(1000 + i) });
      expect(result.incomplete).toEqual([]);
      if (i < records.length - 1) {
        expect(result.kind).toBe('pending');
        expect(assembler.lowestPendingOffset()).toBe('1000');
      } else {
        expect(result.kind).toBe('complete');
        if (result.kind === 'complete') {
          expect(result.record.offset).toBe(String(1000 + i));
          expect(result.record.firstOffset).toBe('1000');
          done = result.record;
        }
      }
    });
    expect(assembler.lowestPendingOffset()).toBeUndefined();
    expect(assembler.pendingBytes).toBe(0);
    const decoded = await codec.decode(done!);
    expect(decoded.type).toBe('checkpoint');
    const got = decoded.type === 'checkpoint' ? decoded.values[0] : undefined;
    expect(got?.kind === 'snapshot' && Buffer.from(got.value.value).equals(Buffer.from(value.value))).toBe(true);
  });
});
