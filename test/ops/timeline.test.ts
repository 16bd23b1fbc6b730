import { describe, expect, it } from 'vitest';
import { parseLogPoint, selectEvents, timelineRow } from '../../src/ops/timeline.ts';
import type { LoggedEvent, ThreadlogEvent } from '../../src/events/types.ts';

const logged = (offset: number, event: Partial<ThreadlogEvent> & { type: ThreadlogEvent['type'] }): LoggedEvent => ({
  event: { eventId: `e${offset}`, threadId: 't', ts: offset * 1000, ...event } as ThreadlogEvent,
  position: { partition: 0, offset: String(offset) },
  raw: new Uint8Array(offset + 1),
});
const cp = (offset: number, id: string, ns = '') =>
  logged(offset, { type: 'checkpoint', checkpointNs: ns, checkpointId: id, parentCheckpointId: undefined, checkpoint: { v: 4, id, ts: '', channel_versions: {}, versions_seen: {} }, metadata: { step: offset, source: 'loop' }, values: [] } as Partial<ThreadlogEvent> & { type: 'checkpoint' });
const wr = (offset: number, id: string, ns = '') =>
  logged(offset, { type: 'writes', checkpointNs: ns, checkpointId: id, taskId: 'task-abcdefgh', taskPath: '', writes: [{ idx: 0, channel: 'x', value: { type: 'json', value: new Uint8Array() } }] } as Partial<ThreadlogEvent> & { type: 'writes' });

describe('timeline selection', () => {
  const events = [cp(0, 'a'), wr(1, 'a'), cp(2, 'b'), wr(3, 'b'), cp(4, 'c', 'sub'), logged(5, { type: 'thread-deleted' })];
  it('from/to by checkpoint id include the checkpoint\'s writes', () => {
    expect(selectEvents(events, { from: parseLogPoint('a'), to: parseLogPoint('b') }).map((e) => e.position.offset)).toEqual(['0', '1', '2', '3']);
  });
  it('from/to by time, and a namespace filter that keeps deletions', () => {
    expect(selectEvents(events, { from: parseLogPoint(new Date(2000).toISOString()) }).map((e) => e.position.offset)).toEqual(['2', '3', '4', '5']);
    expect(selectEvents(events, { ns: 'sub' }).map((e) => e.position.offset)).toEqual(['4', '5']);
  });
  it('an unknown checkpoint id is an error', () => {
    expect(() => selectEvents(events, { to: parseLogPoint('zzz') })).toThrow(/not in the thread's log/);
  });
  it('rows carry step, source, writes and size', () => {
    expect(timelineRow(events[0]!)).toMatchObject({ type: 'checkpoint', step: 0, source: 'loop', bytes: 1, offset: '0' });
    expect(timelineRow(events[1]!).writes).toEqual(['task-abc/x']);
  });
});
