import { beforeAll, describe, expect, it } from 'vitest';
import {
  createChunkAssembler,
  createEventCodec,
  type ChunkResult,
  type EncodedRecord,
  type LogRecord,
} from '../../src/events/index.ts';
import { bytes, deletedEvent, writesEvent } from './fixtures.ts';

// small records so a 20 KB event makes several chunks
const codec = createEventCodec({ maxMessageBytes: 8192, compressionThreshold: 1 << 30 });

function bigWrites(threadId: string, n = 20_000) {
  return writesEvent({ threadId, writes: [{ idx: 0, channel: 'x', value: bytes(n, true) }] });
}

let offset = 0;
function at(r: EncodedRecord): LogRecord {
  return { key: Buffer.from(r.key), value: Buffer.from(r.value), headers: { ...r.headers }, offset: String(offset++) };
}

function kinds(results: ChunkResult[]): string[] {
  return results.map((r) => r.kind);
}

describe('ChunkAssembler', () => {
  let a: EncodedRecord[];
  let b: EncodedRecord[];
  beforeAll(async () => {
    a = await codec.encode(bigWrites('t1'));
    b = await codec.encode(bigWrites('t1'));
    expect(a.length).toBeGreaterThanOrEqual(3);
  });

  it('passes unchunked records through with their own position', async () => {
    const asm = createChunkAssembler();
    const [r] = await codec.encode(deletedEvent());
    const rec = at(r!);
    const res = asm.add(rec);
    expect(res.kind).toBe('complete');
    if (res.kind === 'complete') {
      expect(res.record.offset).toBe(rec.offset);
      expect(res.record.value).toBe(rec.value);
    }
  });

  it('reassembles chunks interleaved with other keys, and holds back the commit point', async () => {
    const asm = createChunkAssembler();
    const other = await codec.encode(bigWrites('t2'));
    const results: ChunkResult[] = [];
    const first = at(a[0]!);
    results.push(asm.add(first));
    results.push(asm.add(at(other[0]!)));
    expect(asm.lowestPendingOffset()).toBe(first.offset);
    for (let i = 1; i < a.length; i++) results.push(asm.add(at(a[i]!)));
    // t1 is complete; t2 still pending and now the lowest
    expect(results.at(-1)!.kind).toBe('complete');
    expect(asm.pendingSequences).toBe(1);
    expect(asm.lowestPendingOffset()).toBe(String(Number(first.offset) + 1));
    for (let i = 1; i < other.length; i++) results.push(asm.add(at(other[i]!)));
    expect(results.flatMap((r) => r.incomplete)).toEqual([]);
    const done = results.filter((r) => r.kind === 'complete');
    expect(done).toHaveLength(2);
    for (const r of done) {
      if (r.kind !== 'complete') continue;
      const ev = await codec.decode(r.record);
      expect(ev.threadId).toBe(r.record.key!.toString());
    }
    expect(asm.lowestPendingOffset()).toBeUndefined();
  });

  it('a missing chunk: the sequence is reported incomplete, never returned', async () => {
    const asm = createChunkAssembler();
    const recs = a.map(at);
    const results = [asm.add(recs[0]!), asm.add(recs[2]!)];
    expect(kinds(results)).toEqual(['pending', 'incomplete']);
    const inc = results[1]!.incomplete;
    expect(inc).toHaveLength(1);
    expect(inc[0]).toMatchObject({ reason: 'gap', offsets: [recs[0]!.offset, recs[2]!.offset], expectedCount: a.length });
    expect(inc[0]!.error.code).toBe('incomplete-chunks');
    expect(asm.lowestPendingOffset()).toBeUndefined();
    expect(asm.pendingBytes).toBe(0);
    // stragglers are reported alone, with the sequence's reason
    const rest = recs.slice(3).map((r) => asm.add(r));
    for (const r of rest) {
      expect(r.kind).toBe('incomplete');
      expect(r.incomplete[0]!.reason).toBe('gap');
    }
  });

  it('a last chunk that never comes keeps the sequence pending (and the commit point held)', () => {
    const asm = createChunkAssembler();
    const recs = a.slice(0, -1).map(at);
    expect(kinds(recs.map((r) => asm.add(r)))).toEqual(recs.map(() => 'pending'));
    expect(asm.lowestPendingOffset()).toBe(recs[0]!.offset);
  });

  it('a duplicated chunk abandons the sequence', () => {
    const asm = createChunkAssembler();
    const recs = a.map(at);
    const dup = { ...recs[1]!, offset: String(offset++) };
    const results = [asm.add(recs[0]!), asm.add(recs[1]!), asm.add(dup)];
    expect(kinds(results)).toEqual(['pending', 'pending', 'incomplete']);
    expect(results[2]!.incomplete[0]).toMatchObject({ reason: 'duplicate', offsets: [recs[0]!.offset, recs[1]!.offset, dup.offset] });
  });

  it('out-of-order chunks abandon the sequence', () => {
    const asm = createChunkAssembler();
    const recs = a.map(at);
    const results = [asm.add(recs[1]!), asm.add(recs[0]!), asm.add(recs[2]!)];
    expect(results[0]!.kind).toBe('incomplete');
    expect(results[0]!.incomplete[0]!.reason).toBe('orphan');
    // chunk 0 then 2: a gap
    expect(results[1]!.kind).toBe('pending');
    expect(results[2]!.incomplete[0]!.reason).toBe('gap');
  });

  it('a new event on the same key interrupts an unfinished sequence', async () => {
    const asm = createChunkAssembler();
    const recsA = a.map(at);
    const [del] = await codec.encode(deletedEvent({ threadId: 't1' }));
    const results = [asm.add(recsA[0]!), asm.add(recsA[1]!)];
    const interrupting = asm.add(at(del!));
    expect(interrupting.kind).toBe('complete');
    expect(interrupting.incomplete).toHaveLength(1);
    expect(interrupting.incomplete[0]).toMatchObject({ reason: 'interrupted', offsets: [recsA[0]!.offset, recsA[1]!.offset] });
    expect(kinds(results)).toEqual(['pending', 'pending']);
  });

  it('a new chunk sequence on the same key interrupts the previous one, and itself completes', async () => {
    const asm = createChunkAssembler();
    const recsA = a.map(at);
    const recsB = b.map(at);
    asm.add(recsA[0]!);
    const startB = asm.add(recsB[0]!);
    expect(startB.kind).toBe('pending');
    expect(startB.incomplete[0]).toMatchObject({ reason: 'interrupted', offsets: [recsA[0]!.offset] });
    // a late straggler of A is reported and does not disturb B
    const straggler = asm.add(recsA[1]!);
    expect(straggler.kind).toBe('incomplete');
    expect(straggler.incomplete[0]!.reason).toBe('interrupted');
    const rest = recsB.slice(1).map((r) => asm.add(r));
    const last = rest.at(-1)!;
    expect(last.kind).toBe('complete');
    if (last.kind === 'complete') {
      expect((await codec.decode(last.record)).eventId).toBe(b[0]!.headers['tl-event-id']);
    }
  });

  it('bounds its memory: a sequence over maxPendingBytes is abandoned', () => {
    const asm = createChunkAssembler({ maxPendingBytes: 10_000 });
    const results = a.map(at).map((r) => asm.add(r));
    expect(results[0]!.kind).toBe('incomplete');
    expect(results[0]!.incomplete[0]!.reason).toBe('too-large');
    expect(results.every((r) => r.kind === 'incomplete')).toBe(true);
    expect(asm.pendingBytes).toBe(0);
  });

  it('abandons a sequence left open for more than maxSpanRecords records', async () => {
    const asm = createChunkAssembler({ maxSpanRecords: 3 });
    asm.add(at(a[0]!));
    const [d] = await codec.encode(deletedEvent({ threadId: 'other' }));
    const results = [0, 1, 2, 3].map(() => asm.add(at(d!)));
    // open for 3 more records is allowed; the 4th abandons it
    expect(results.slice(0, 3).flatMap((r) => r.incomplete)).toEqual([]);
    expect(results[3]!.incomplete[0]!.reason).toBe('expired');
    expect(asm.lowestPendingOffset()).toBeUndefined();
  });

  it('malformed chunk headers are reported, not assembled', () => {
    const asm = createChunkAssembler();
    const r = at(a[0]!);
    const res = asm.add({ ...r, headers: { ...r.headers, 'tl-chunk-index': '-1' } });
    expect(res.kind).toBe('incomplete');
    expect(res.incomplete[0]!.reason).toBe('malformed');
  });

  it('clear() forgets everything', () => {
    const asm = createChunkAssembler();
    asm.add(at(a[0]!));
    asm.clear();
    expect(asm.pendingSequences).toBe(0);
    expect(asm.lowestPendingOffset()).toBeUndefined();
  });
});
