import { describe, expect, it } from 'vitest';
import type { ChannelValue, LoggedEvent, ThreadlogEvent } from '../../src/events/index.ts';
import { checkDeltaChains } from '../../src/ops/chain-check.ts';
import { checkpointEvent, json } from '../events/fixtures.ts';

const snap = (version: number, list: unknown[], channel = 'messages'): ChannelValue => ({ kind: 'snapshot', channel, version, value: json(list) });
const app = (version: number, base: number, items: unknown[], baseLength?: number): ChannelValue => ({
  kind: 'append',
  channel: 'messages',
  version,
  base,
  depth: 1,
  ...(baseLength === undefined ? {} : { baseLength }),
  items: items.map(json),
});
let offset = 0;
const logged = (event: ThreadlogEvent): LoggedEvent => ({ event, raw: new Uint8Array(), position: { partition: 0, offset: String(offset++) } });
const cp = (id: string, values: ChannelValue[], ns = ''): LoggedEvent => logged(checkpointEvent({ checkpointId: id, checkpointNs: ns, values }));

describe('checkDeltaChains', () => {
  it('a chain of snapshot and appends in log order is whole', () => {
    const r = checkDeltaChains([cp('c1', [snap(1, ['a'])]), cp('c2', [app(2, 1, ['b'], 1)]), cp('c3', [app(3, 2, ['c', 'd'], 2)]), cp('c4', [app(4, 3, [], 4)])]);
    expect(r).toMatchObject({ deltas: 3, checkpoints: 4, brokenCheckpoints: 0, problems: [] });
  });

  it('names an append onto a version that is not in the log, and everything built on it', () => {
    const events = [cp('c1', [snap(1, ['a'])]), cp('c3', [app(3, 2, ['c'], 2)]), cp('c4', [app(4, 3, ['d'], 3)]), cp('c5', [snap(5, ['x'])]), cp('c6', [app(6, 5, ['y'], 1)])];
    const r = checkDeltaChains(events);
    expect(r.brokenCheckpoints).toBe(2);
    expect(r.problems.map((p) => [p.kind, p.checkpointId, p.version, p.base])).toEqual([
      ['missing-base', 'c3', 3, 2],
      ['broken-base', 'c4', 4, 3],
    ]);
    expect(r.problems[0]!.position).toEqual(events[1]!.position);
  });

  it('a base later in the log, or before a delete, is missing', () => {
    const deleted = logged({ type: 'thread-deleted', eventId: 'd', threadId: 'thread-1', ts: 1 });
    const r = checkDeltaChains([cp('c2', [app(2, 1, ['b'], 1)]), cp('c1', [snap(1, ['a'])]), deleted, cp('c3', [app(3, 1, ['c'], 1)])]);
    expect(r.problems.map((p) => [p.kind, p.checkpointId])).toEqual([
      ['missing-base', 'c2'],
      ['missing-base', 'c3'],
    ]);
  });

  it('a baseLength that disagrees with its base is a problem (it would read back a wrong list)', () => {
    const r = checkDeltaChains([cp('c1', [snap(1, ['a', 'b'])]), cp('c2', [app(2, 1, ['c'], 1)])]);
    expect(r.problems.map((p) => p.kind)).toEqual(['length-mismatch']);
  });

  it('namespaces and channels are apart; the first value stored under a version wins', () => {
    const other: ChannelValue = { ...app(2, 1, ['b'], 1), channel: 'other' };
    const r = checkDeltaChains([
      cp('c1', [snap(1, ['a'])], 'sub'),
      cp('c2', [app(2, 1, ['b'], 1)]),
      cp('c3', [other]),
      cp('c4', [snap(7, ['a', 'b', 'c'])]),
      cp('c5', [snap(7, ['z'])]),
      cp('c6', [{ ...app(8, 7, ['d'], 3) }]),
    ]);
    expect(r.problems.map((p) => [p.kind, p.checkpointId])).toEqual([
      ['missing-base', 'c2'],
      ['missing-base', 'c3'],
    ]);
  });
});
