import { describe, expect, it } from 'vitest';
import { evolve, touchedIds } from '../../src/projection/evolve.ts';
import { createMemoryProjection } from '../../src/projection/in-memory.ts';
import { ids } from '../../src/projection/ids.ts';
import type { BlobDoc, CheckpointDoc, ProjectionDoc, WriteDoc } from '../../src/projection/documents.ts';
import { checkpoint, cpId, deleted, writes } from './fixtures.ts';

const none = new Map<string, ProjectionDoc>();

describe('evolve: checkpoints', () => {
  it('a new checkpoint writes its header, the head and only its new channel values', () => {
    const r = evolve(checkpoint('t', 1, 10), none);
    expect(r.applied).toBe(true);
    if (!r.applied) return;
    expect(r.put.map((d) => d._id)).toEqual([ids.checkpoint('t', '', cpId(1)), ids.head('t', ''), ids.blob('t', '', 'messages', 1)]);
    const cp = r.put[0] as CheckpointDoc;
    expect(cp.pos).toEqual({ partition: 0, offset: 10 });
    expect(JSON.parse(cp.checkpoint)).toMatchObject({ id: cpId(1) });
    expect(cp).not.toHaveProperty('channel_values');
  });

  it('touchedIds names the tombstone and every document the event writes', () => {
    expect(touchedIds(checkpoint('t', 1, 10))).toEqual([ids.tombstone('t'), ids.checkpoint('t', '', cpId(1)), ids.head('t', ''), ids.blob('t', '', 'messages', 1)]);
  });

  it('the same event twice is a duplicate, not an error', () => {
    const m = createMemoryProjection();
    expect(m.apply(checkpoint('t', 1, 10)).applied).toBe(true);
    expect(m.apply(checkpoint('t', 1, 10))).toEqual({ applied: false, reason: 'duplicate' });
  });

  it('a re-put of a checkpoint id at a newer position replaces it; an older one does not', () => {
    const m = createMemoryProjection();
    m.apply(checkpoint('t', 1, 10, { metadata: { v: 'a' } }));
    m.apply(checkpoint('t', 1, 20, { metadata: { v: 'b' } }));
    expect(m.apply(checkpoint('t', 1, 15, { metadata: { v: 'c' } }))).toEqual({ applied: false, reason: 'older' });
    expect((m.get(ids.checkpoint('t', '', cpId(1))) as CheckpointDoc).metadata).toEqual({ v: 'b' });
    expect((m.get(ids.head('t', '')) as CheckpointDoc).pos.offset).toBe(20);
  });

  it('the head follows the checkpoint id first, then the position', () => {
    const m = createMemoryProjection();
    m.apply(checkpoint('t', 2, 10));
    // a later event with an older checkpoint id (a fork from the past) is stored, but is not the head
    expect(m.apply(checkpoint('t', 1, 11, { values: [] })).applied).toBe(true);
    expect((m.get(ids.head('t', '')) as CheckpointDoc).checkpointId).toBe(cpId(2));
    m.apply(checkpoint('t', 3, 12));
    expect((m.get(ids.head('t', '')) as CheckpointDoc).checkpointId).toBe(cpId(3));
    // re-delivered older events never move it back
    m.apply(checkpoint('t', 2, 10));
    expect((m.get(ids.head('t', '')) as CheckpointDoc).checkpointId).toBe(cpId(3));
  });

  it('heads are per namespace', () => {
    const m = createMemoryProjection();
    m.apply(checkpoint('t', 5, 10, { ns: 'sub:1' }));
    m.apply(checkpoint('t', 1, 11));
    expect((m.get(ids.head('t', '')) as CheckpointDoc).checkpointId).toBe(cpId(1));
    expect((m.get(ids.head('t', 'sub:1')) as CheckpointDoc).checkpointId).toBe(cpId(5));
  });

  it('a channel version is written once: a later event with the same version does not rewrite it', () => {
    const m = createMemoryProjection();
    m.apply(checkpoint('t', 1, 10));
    const again = checkpoint('t', 2, 11, { values: [{ kind: 'snapshot', channel: 'messages', version: 1, value: { type: 'json', value: new Uint8Array([9]) } }] });
    expect(m.apply(again).applied).toBe(true); // its checkpoint and head are new
    expect((m.get(ids.blob('t', '', 'messages', 1)) as BlobDoc).pos).toEqual({ partition: 0, offset: 10 });
  });

  it('append deltas are stored as they came', () => {
    const m = createMemoryProjection();
    const items = [{ type: 'json', value: new Uint8Array([1]) }];
    m.apply(checkpoint('t', 2, 10, { values: [{ kind: 'append', channel: 'messages', version: 2, base: 1, depth: 1, items }] }));
    expect(m.get(ids.blob('t', '', 'messages', 2))).toMatchObject({ kind: 'append', base: 1, depth: 1, items });
  });

  it('metadata keys that storage refuses are escaped, and unknown keys stay JSON', () => {
    const r = evolve(checkpoint('t', 1, 10, { metadata: { 'a.b': 1, $where: 'x', nested: { 'c.d': [{ $x: 1 }] } } }), none);
    if (!r.applied) throw new Error('not applied');
    expect((r.put[0] as CheckpointDoc).metadata).toEqual({ 'a%2Eb': 1, '%24where': 'x', nested: { 'c%2Ed': [{ '%24x': 1 }] } });
  });
});

describe('evolve: pending writes', () => {
  const value = (m: ReturnType<typeof createMemoryProjection>, idx: number, task = 't1') =>
    new TextDecoder().decode((m.get(ids.write('t', '', cpId(1), task, idx)) as WriteDoc).value.value);

  it('ordinary writes are insert-or-ignore', () => {
    const m = createMemoryProjection();
    m.apply(writes('t', 1, 't1', [[0, 'messages', 'first']], 10));
    expect(m.apply(writes('t', 1, 't1', [[0, 'messages', 'second']], 11))).toEqual({ applied: false, reason: 'exists' });
    expect(value(m, 0)).toBe('first');
  });

  it('special channels take their fixed negative idx and the newest overwrites', () => {
    const m = createMemoryProjection();
    m.apply(writes('t', 1, 't1', [[0, '__error__', 'boom']], 10));
    m.apply(writes('t', 1, 't1', [[3, '__error__', 'boom again']], 12));
    expect(m.apply(writes('t', 1, 't1', [[0, '__error__', 'late redelivery']], 11))).toEqual({ applied: false, reason: 'older' });
    expect(value(m, -1)).toBe('boom again');
    m.apply(writes('t', 1, 't1', [[0, '__interrupt__', 'i']], 13));
    m.apply(writes('t', 1, 't1', [[0, '__resume__', 'r']], 14));
    m.apply(writes('t', 1, 't1', [[0, '__scheduled__', 's']], 15));
    expect([value(m, -2), value(m, -3), value(m, -4)]).toEqual(['s', 'i', 'r']);
  });

  it('a partly new event applies its new writes', () => {
    const m = createMemoryProjection();
    m.apply(writes('t', 1, 't1', [[0, 'a', 'x']], 10));
    expect(m.apply(writes('t', 1, 't1', [[0, 'a', 'x'], [1, 'b', 'y']], 11)).applied).toBe(true);
    expect(value(m, 1)).toBe('y');
  });
});

describe('evolve: thread deletion', () => {
  it('removes the thread, keeps other threads, and hides older events for good', () => {
    const m = createMemoryProjection();
    m.apply(checkpoint('t', 1, 10));
    m.apply(writes('t', 1, 't1', [[0, 'a', 'x']], 11));
    m.apply(checkpoint('other', 1, 12));
    expect(m.apply(deleted('t', 13)).applied).toBe(true);
    expect(m.docs().filter((d) => 'threadId' in d && d.threadId === 't').map((d) => d._id)).toEqual([ids.tombstone('t')]);
    expect(m.get(ids.head('other', ''))).toBeDefined();
    expect(m.apply(checkpoint('t', 1, 10))).toEqual({ applied: false, reason: 'tombstoned' });
    expect(m.apply(writes('t', 1, 't1', [[0, 'a', 'x']], 11))).toEqual({ applied: false, reason: 'tombstoned' });
  });

  it('a thread id may be reused: events after the delete apply', () => {
    const m = createMemoryProjection();
    m.apply(checkpoint('t', 5, 10));
    m.apply(deleted('t', 11));
    expect(m.apply(checkpoint('t', 1, 12)).applied).toBe(true);
    expect((m.get(ids.head('t', '')) as CheckpointDoc).checkpointId).toBe(cpId(1));
    expect((m.get(ids.blob('t', '', 'messages', 1)) as BlobDoc).pos.offset).toBe(12);
  });

  it('a delete delivered after a newer event keeps the newer documents', () => {
    const m = createMemoryProjection();
    m.apply(checkpoint('t', 1, 10));
    m.apply(checkpoint('t', 2, 12));
    m.apply(deleted('t', 11));
    expect(m.get(ids.checkpoint('t', '', cpId(1)))).toBeUndefined();
    expect(m.get(ids.checkpoint('t', '', cpId(2)))).toBeDefined();
  });

  it('an older delete is a result; a duplicate delete re-runs its idempotent deletion', () => {
    const m = createMemoryProjection();
    m.apply(deleted('t', 20));
    expect(m.apply(deleted('t', 10))).toEqual({ applied: false, reason: 'older' });
    const again = evolve(deleted('t', 20), new Map([[ids.tombstone('t'), m.get(ids.tombstone('t'))!]]));
    expect(again).toEqual({ applied: true, put: [], deletion: { threadId: 't', before: { partition: 0, offset: 20 } } });
  });
});

describe('evolve: positions', () => {
  it('rejects an offset that is not a safe integer', () => {
    const e = checkpoint('t', 1, 0);
    expect(() => evolve({ ...e, position: { partition: 0, offset: '9007199254740993' } }, none)).toThrow(/safe integer/);
  });
});
