import { describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../src/events/types.ts';
import type { AuditReport, Divergence } from '../../src/ops/audit.ts';
import { eventStatuses } from '../../src/ui/audit-status.ts';

const event = (offset: number, type: 'checkpoint' | 'writes', checkpointId: string): LoggedEvent =>
  ({
    position: { partition: 1, offset: String(offset) },
    raw: new Uint8Array(10 + offset),
    event:
      type === 'checkpoint'
        ? { type, eventId: `e${offset}`, ts: 0, threadId: 't', checkpointNs: '', checkpointId, metadata: {}, values: [] }
        : { type, eventId: `e${offset}`, ts: 0, threadId: 't', checkpointNs: '', checkpointId, taskId: 'task', writes: [] },
  }) as unknown as LoggedEvent;

const events = [event(0, 'checkpoint', 'a'), event(1, 'writes', 'a'), event(2, 'checkpoint', 'b'), event(3, 'checkpoint', 'c'), event(4, 'checkpoint', 'd')];

function report(divergences: Divergence[], problems: AuditReport['assembly']['problems'] = []): AuditReport {
  return {
    threadId: 't',
    events: events.length,
    audited: 4,
    notYetProjected: 1,
    documents: 4,
    pruned: 0,
    chain: { head: '', count: 4, expectedHead: '' },
    assembly: { deltas: 0, checkpoints: 4, brokenCheckpoints: problems.length, problems },
    ok: divergences.length === 0 && problems.length === 0,
    first: divergences[0],
    divergences,
  };
}

describe('eventStatuses', () => {
  it('verifies every projected event of a clean audit, and leaves later ones pending', () => {
    const a = eventStatuses(report([]), events, 3);
    expect(a.events.map((e) => e.status)).toEqual(['verified', 'verified', 'verified', 'verified', 'pending']);
    expect(a.events.map((e) => e.bytes)).toEqual([10, 11, 12, 13, 14]);
    expect(a.events[1]).toMatchObject({ type: 'writes', checkpointId: 'a', position: '1:1' });
    expect(a.counts).toMatchObject({ verified: 4, pending: 1 });
    expect(a.first).toBeUndefined();
  });

  it('puts each divergence on its event, marks the first, and lists divergences at no event', () => {
    const altered: Divergence = { kind: 'altered', position: { partition: 1, offset: 2 }, docId: 'cp:t::b', message: 'document differs' };
    const extra: Divergence = { kind: 'extra', position: { partition: -1, offset: -1 }, docId: 'cp:t::z', message: 'no event produces it' };
    const a = eventStatuses(report([altered, extra]), events, 3);
    expect(a.events.map((e) => e.status)).toEqual(['verified', 'verified', 'altered', 'verified', 'pending']);
    expect(a.events[2]).toMatchObject({ first: true, messages: ['document differs'] });
    expect(a.first).toMatchObject({ kind: 'altered', position: '1:2' });
    expect(a.orphans).toEqual([{ kind: 'extra', docId: 'cp:t::z', message: 'no event produces it', position: '-1:-1' }]);
  });

  it('after the hash chain breaks, later events are unverified; a broken delta chain is named', () => {
    const missing: Divergence = { kind: 'missing', position: { partition: 1, offset: 1 }, eventId: 'e1', message: 'not in the chain' };
    const broken = { kind: 'missing-base' as const, checkpointNs: '', checkpointId: 'c', channel: 'messages', version: 3, base: 2, position: { partition: 1, offset: '3' }, message: 'no base' };
    const a = eventStatuses(report([missing], [broken]), events, 3);
    expect(a.events.map((e) => e.status)).toEqual(['verified', 'missing', 'unverified', 'broken', 'pending']);
    expect(a.ok).toBe(false);
  });

  it('is all pending when nothing of the partition is projected', () => {
    expect(eventStatuses(report([]), events, undefined).events.every((e) => e.status === 'pending')).toBe(true);
  });
});
