/**
 * The log is forever: the committed schema v1 log (test/fixtures/v1-log.json, written by the
 * SDK before schema v2) decodes with today's codec, whole (chunks reassembled), with the
 * header ids v2 no longer writes restored, and re-encodes as schema v2 to the same events.
 */
import { describe, expect, it } from 'vitest';
import { createChunkAssembler, createEventCodec, type ThreadlogEvent } from '../../src/events/index.ts';
import { headerNames } from '../../src/events/wire.ts';
import { v1Fixture } from './v1-fixture.ts';

const codec = createEventCodec();

async function decodeAll(): Promise<ThreadlogEvent[]> {
  const { records } = v1Fixture();
  const out: ThreadlogEvent[] = [];
  const assemblers = new Map<number, ReturnType<typeof createChunkAssembler>>();
  for (const r of records) {
    let a = assemblers.get(r.partition);
    if (a === undefined) assemblers.set(r.partition, (a = createChunkAssembler()));
    const res = a.add({ key: Buffer.from(r.key), value: Buffer.from(r.value, 'base64'), headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, Buffer.from(v)])), offset: r.offset });
    expect(res.incomplete).toEqual([]);
    if (res.kind === 'complete') out.push(await codec.decode(res.record));
  }
  return out;
}

describe('a schema v1 log', () => {
  it('every record is schema 1 and decodes, chunked events included', async () => {
    const { records } = v1Fixture();
    expect(new Set(records.map((r) => r.headers[headerNames.schema]))).toEqual(new Set(['1']));
    const events = await decodeAll();
    const types = new Set(events.map((e) => e.type));
    expect(types).toEqual(new Set(['checkpoint', 'writes', 'thread-deleted']));
    expect(events.some((e) => e.type === 'checkpoint' && e.values.some((v) => v.kind === 'append'))).toBe(true);
    expect(events.some((e) => e.type === 'checkpoint' && e.threadId === 'chunked')).toBe(true);
    for (const e of events) if (e.type === 'checkpoint') expect(e.checkpoint.id).toBe(e.checkpointId);
  });

  it('re-encoded as schema 2, the same events come back; v1 appends are refused (schema 2 names their base checkpoint)', async () => {
    let appends = 0;
    for (const e of await decodeAll()) {
      if (e.type === 'checkpoint' && e.values.some((v) => v.kind === 'append')) {
        appends += 1;
        await expect(codec.encode(e)).rejects.toMatchObject({ code: 'invalid-checkpoint', message: expect.stringMatching(/baseCheckpoint/) });
        continue;
      }
      const records = await codec.encode(e);
      expect(records[0]!.headers[headerNames.schema]).toBe('2');
      if (records.length > 1) continue; // chunked: reassembly is tested elsewhere
      const back = await codec.decode({ key: records[0]!.key, value: records[0]!.value, headers: records[0]!.headers });
      expect(back).toEqual(e);
    }
    expect(appends).toBeGreaterThan(0);
  });
});
