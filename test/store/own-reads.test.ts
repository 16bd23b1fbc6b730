/**
 * Own reads ask for the projected head of an own thread at most once per headCheckMs, keep
 * only what orders it (never Redis' payload of the whole head checkpoint), and still let a
 * newer projected head win. The reader and assembler are stand-ins here (in-process
 * interfaces); the real ones are covered by test/store/write-through.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { CheckpointEvent, LogPosition } from '../../src/events/types.ts';
import type { Assembler } from '../../src/store/assemble.ts';
import { createL1Cache } from '../../src/store/l1-cache.ts';
import { createOwnReads } from '../../src/store/own-reads.ts';
import { createOwnWrites } from '../../src/store/own-writes.ts';
import type { ProjectedHead, Reader } from '../../src/store/reader.ts';
import { createSessionTracker } from '../../src/store/session.ts';

const T = 'thread';
const value = { type: 'json', value: new TextEncoder().encode('"v"') };
const pos = (offset: number): LogPosition => ({ partition: 0, offset: String(offset) });

function setup(headCheckMs: number) {
  const session = createSessionTracker();
  const own = createOwnWrites({ maxBytes: 1 << 20, l1: createL1Cache(1 << 20), session });
  const event: CheckpointEvent = {
    type: 'checkpoint', eventId: 'e1', threadId: T, ts: 0, checkpointNs: '', checkpointId: 'b', parentCheckpointId: undefined,
    checkpoint: { v: 4, id: 'b', ts: '', channel_versions: { x: 1 }, versions_seen: {} }, metadata: {},
    values: [{ kind: 'snapshot', channel: 'x', version: 1, value }],
  };
  own.record(event, { topic: 't', ...pos(5) }, [], new Map([['x', value]]));
  session.recordEvent(T, { topic: 't', ...pos(5) }, 'checkpoint', '');
  const asked: number[] = [];
  const byIdPayloads: Array<Buffer | undefined> = [];
  let projected: ProjectedHead | undefined;
  const reader = {
    alive: () => true,
    countHit: () => undefined,
    projectedHead: async () => {
      asked.push(Date.now());
      return projected;
    },
    byId: async (_t: string, _ns: string, id: string, _req: unknown, payload?: Buffer) => {
      byIdPayloads.push(payload);
      return { value: { checkpointId: id } as never, level: 'l2' as const };
    },
  } as unknown as Reader;
  const assembler = { known: (rec: { checkpointId: string }) => ({ checkpointId: rec.checkpointId }), toStored: async (e: { checkpointId: string }) => ({ checkpointId: e.checkpointId }) } as unknown as Assembler;
  const reads = createOwnReads({ own, reader, assembler, topic: 't', defaultConsistency: 'session', headCheckMs });
  const latest = async () => (await reads.load(T, '', undefined, { partition: 0, wait: 5n, head: 5n }, undefined))?.value?.checkpointId;
  return { latest, asked, byIdPayloads, setProjected: (h: ProjectedHead | undefined) => (projected = h), forget: () => reads.forget(T) };
}

describe('own reads: the projected head check', () => {
  it('asks once per headCheckMs, and every time with 0', async () => {
    const s = setup(200);
    for (let i = 0; i < 5; i++) expect(await s.latest()).toBe('b');
    expect(s.asked).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 250));
    expect(await s.latest()).toBe('b');
    expect(s.asked).toHaveLength(2);
    // a delete learnt here forgets what was read
    s.forget();
    await s.latest();
    expect(s.asked).toHaveLength(3);

    const every = setup(0);
    for (let i = 0; i < 3; i++) await every.latest();
    expect(every.asked).toHaveLength(3);
  });

  it('a newer projected head wins; what is remembered of it holds no payload', async () => {
    const s = setup(60_000);
    s.setProjected({ checkpointId: 'c', position: pos(9), payload: Buffer.from('the whole head entry') });
    expect(await s.latest()).toBe('c');
    expect(await s.latest()).toBe('c');
    expect(s.asked).toHaveLength(1);
    // the first answer used Redis' payload; the remembered head asks the reader without it
    expect(s.byIdPayloads.map((p) => p?.toString())).toEqual(['the whole head entry', undefined]);
  });
});
