/**
 * The write-through record on its own: head order, re-puts, pending-write rules, empty
 * channels, pruning, and when a record may not be trusted (evicted past, deletes).
 */
import { describe, expect, it } from 'vitest';
import type { CheckpointEvent, Receipt, ThreadlogEvent, TypedValue, WritesEvent } from '../../src/events/types.ts';
import { createL1Cache } from '../../src/store/l1-cache.ts';
import { approxBytes, createOwnWrites } from '../../src/store/own-writes.ts';
import { createSessionTracker } from '../../src/store/session.ts';

const T = 'thread';
const receipt = (offset: number): Receipt => ({ topic: 'x', partition: 0, offset: String(offset) });
const bytes = (s: string) => ({ type: 'json', value: new TextEncoder().encode(JSON.stringify(s)) });

function cp(id: string, versions: Record<string, number>, values: string[] = Object.keys(versions)): CheckpointEvent {
  return {
    type: 'checkpoint',
    eventId: id,
    threadId: T,
    ts: 0,
    checkpointNs: '',
    checkpointId: id,
    parentCheckpointId: undefined,
    checkpoint: { v: 4, id, ts: '', channel_versions: versions, versions_seen: {} },
    metadata: {},
    values: values.map((c) => ({ kind: 'snapshot', channel: c, version: versions[c]!, value: bytes(`${c}@${versions[c]}`) })),
  };
}

function writes(id: string, taskId: string, ws: Array<[string, number, string]>): WritesEvent {
  return { type: 'writes', eventId: `${id}${taskId}`, threadId: T, ts: 0, checkpointNs: '', checkpointId: id, taskId, taskPath: '', writes: ws.map(([channel, idx, v]) => ({ channel, idx, value: bytes(v) })) };
}

function setup(maxBytes = 1 << 20) {
  const l1 = createL1Cache(1 << 20);
  const session = createSessionTracker();
  const own = createOwnWrites({ maxBytes, l1, session });
  // what the writer does: the record first, then the session tracker
  const record = (e: ThreadlogEvent, offset: number, empties?: string[], wholes?: ReadonlyMap<string, TypedValue>): void => {
    own.record(e, receipt(offset), empties, wholes);
    session.recordEvent(T, receipt(offset), e.type, e.type === 'thread-deleted' || e.type === 'thread-erased' ? undefined : e.checkpointNs);
    if (e.type === 'thread-deleted') session.markDeleted(T, receipt(offset));
  };
  return { l1, own, record };
}

describe('own writes', () => {
  it('keeps the head in LangGraph head order and the latest re-put of an id', () => {
    const { own, record, l1 } = setup();
    record(cp('b', { x: 2 }), 1);
    record(cp('a', { x: 1 }), 2); // an older id later in the log: the head stays at b
    expect(own.head(T, '')?.checkpointId).toBe('b');
    record({ ...cp('b', { x: 2, y: 1 }), metadata: { again: true } }, 3);
    expect(own.head(T, '')?.metadata).toEqual({ again: true });
    expect(own.checkpoint(T, '', 'a')?.position.offset).toBe('2');
    expect(l1.getBlob(T, '', 'y', 1)).toBeDefined();
    expect(own.isOwn(T, receipt(2))).toBe(true);
    expect(own.isOwn(T, receipt(9))).toBe(false);
  });

  it('pending writes: ordinary ones insert once, special ones take the later write; LangGraph order', () => {
    const { own, record } = setup();
    record(cp('a', { x: 1 }), 1);
    record(writes('a', 't2', [['x', 0, 'first']]), 2);
    record(writes('a', 't2', [['x', 0, 'second']]), 3);
    record(writes('a', 't1', [['__error__', -1, 'e1']]), 4);
    record(writes('a', 't1', [['__error__', -1, 'e2']]), 5);
    const ws = own.writes(T, '', 'a')!;
    expect(ws.map((w) => [w.taskId, new TextDecoder().decode(w.value.value)])).toEqual([
      ['t1', '"e2"'],
      ['t2', '"first"'],
    ]);
    expect(own.writes(T, '', 'unknown')).toEqual([]);
  });

  it('whole values: the head channels from what own saves wrote, unless one is not known whole', () => {
    const { own, record } = setup();
    const whole = (c: string, v: number) => bytes(`whole ${c}@${v}`);
    record(cp('a', { x: 1, y: 1 }), 1, [], new Map([['x', whole('x', 1)], ['y', whole('y', 1)]]));
    // b writes x@2 and lists e@1 as new without a value (an empty channel); y@1 is unchanged
    record(cp('b', { x: 2, y: 1, e: 1 }, ['x']), 2, ['e'], new Map([['x', whole('x', 2)]]));
    expect(own.wholeValues(T, '', { x: 2, y: 1, e: 1 })).toEqual([['x', whole('x', 2)], ['y', whole('y', 1)]]);
    // an older version than the one kept, a version never written here, another namespace
    expect(own.wholeValues(T, '', { x: 1, y: 1 })).toBeUndefined();
    expect(own.wholeValues(T, '', { x: 2, z: 1 })).toBeUndefined();
    expect(own.wholeValues(T, 'other', { x: 2 })).toBeUndefined();
    // a save without whole values (e.g. from an older writer path): the read assembles instead
    record(cp('c', { x: 3, y: 1 }, ['x']), 3);
    expect(own.wholeValues(T, '', { x: 3, y: 1 })).toBeUndefined();
    // a delete forgets them
    record({ type: 'thread-deleted', eventId: 'd', threadId: T, ts: 0 }, 4);
    expect(own.wholeValues(T, '', { y: 1 })).toBeUndefined();
  });

  it('empty channels are known until a value of that version is written', () => {
    const { own, record } = setup();
    record(cp('a', { x: 1, gone: 1 }, ['x']), 1, ['gone']);
    expect(own.isEmpty(T, '', 'gone', 1)).toBe(true);
    record(cp('b', { x: 1, gone: 1 }, ['gone']), 2);
    expect(own.isEmpty(T, '', 'gone', 1)).toBe(false);
  });

  it('prunes the oldest checkpoint ids of a namespace; a pruned id is no longer known', () => {
    const { own, record } = setup();
    for (let i = 0; i < 40; i++) record(cp(`id${String(i).padStart(2, '0')}`, { x: i }), i + 1);
    expect(own.checkpoint(T, '', 'id00')).toBeUndefined();
    expect(own.writes(T, '', 'id00')).toBeUndefined();
    // a write on a pruned checkpoint cannot be trusted to be its only one
    record(writes('id01', 't', [['x', 0, 'late']]), 100);
    expect(own.writes(T, '', 'id01')).toBeUndefined();
    expect(own.checkpoint(T, '', 'id39')?.checkpointId).toBe('id39');
  });

  it('a thread written before its record was evicted gets an untrusted record', () => {
    const { own, record } = setup(1); // a budget too small for any record
    record(cp('a', { x: 1 }), 1);
    record(cp('b', { x: 2 }), 2);
    expect(own.complete(T)).toBe(false);
    expect(own.head(T, '')).toBeUndefined();
  });

  it('an own delete starts a fresh, complete record; earlier events in the log are ignored', () => {
    const { own, record } = setup();
    record(cp('a', { x: 1 }), 1);
    record({ type: 'thread-deleted', eventId: 'd', threadId: T, ts: 0 }, 5);
    expect(own.complete(T)).toBe(true);
    expect(own.head(T, '')).toBeUndefined();
    record(cp('late-ack', { x: 2 }), 4); // acknowledged after the delete, placed before it
    expect(own.head(T, '')).toBeUndefined();
    record(cp('c', { x: 3 }), 6);
    expect(own.head(T, '')?.checkpointId).toBe('c');
    own.forget(T, receipt(5)); // its own delete, heard back: kept
    expect(own.head(T, '')?.checkpointId).toBe('c');
    own.forget(T, receipt(7)); // a delete by another instance: forgotten
    expect(own.complete(T)).toBe(false);
  });
});

describe('approxBytes (the record\'s budget without building JSON)', () => {
  it('stays within a fifth (or 16 bytes) of the JSON length of checkpoint headers and metadata', () => {
    const version = (i: number) => `${String(i).padStart(32, '0')}.0123456789abcdef`;
    const header = {
      v: 4,
      ts: '2026-12-07T16:00:00.000Z',
      channel_versions: Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`channel-${i}`, version(i)])),
      versions_seen: { agent: { messages: version(3), turn: 2 }, tool: {} },
      pending: [1, 'two', null, true, { three: [3] }],
    };
    for (const v of [header, { source: 'loop', step: 3, parents: {} }, { writes: { agent: { messages: ['x'.repeat(5_000)] } } }, [], {}, 'é'.repeat(10)]) {
      const json = JSON.stringify(v).length;
      expect(Math.abs(approxBytes(v) - json)).toBeLessThanOrEqual(Math.max(0.2 * json, 16));
    }
  });
});

