import { describe, expect, it } from 'vitest';
import type { Document } from 'mongodb';
import type { LoggedEvent } from '../../src/events/types.ts';
import { auditThreadV2 } from '../../src/ops/audit-v2.ts';
import { createMemoryProjectionV2 } from '../../src/projection/v2/memory.ts';
import { randomHistory } from '../projection/v2/model.ts';

/** one thread's log, with deletes, forks and re-puts, and its projection's documents */
async function projected(seed: number): Promise<{ log: LoggedEvent[]; docs: Map<string, Document> }> {
  const model = await randomHistory(seed, { events: 80, threads: 1, fork: 0.1, del: 0.05, reput: 0.05 });
  const log = model.log.map((e) => ({ ...e, raw: Buffer.from(`${e.event.eventId}:${e.position.offset}`) }));
  const mem = createMemoryProjectionV2();
  for (let i = 0; i < log.length; i += 7) mem.applyBatch(log.slice(i, i + 7));
  return { log, docs: new Map(mem.docs().map((d) => [d._id, structuredClone(d) as Document])) };
}

const threadOf = (log: readonly LoggedEvent[]): string => log[0]!.event.threadId;
const last = (log: readonly LoggedEvent[]): number => Number(log.at(-1)!.position.offset);
const audit = (log: LoggedEvent[], docs: Map<string, Document>, removed = new Set<string>(), through = last(log), held = new Set<string>()) =>
  auditThreadV2({ threadId: threadOf(log), events: log, appliedThrough: through, docs, pruned: { removed, held } });

describe('audit, layout 2', () => {
  it('passes a clean projection; every event verified', async () => {
    const { log, docs } = await projected(3);
    const r = audit(log, docs);
    expect(r.divergences).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.chain.head).toBe(r.chain.expectedHead);
    expect(new Set(r.perEvent.map((e) => e.status))).toEqual(new Set(['verified']));
    expect(log.some((e) => e.event.type === 'thread-deleted')).toBe(true);
  });

  it('names an altered checkpoint document at its event, and a removed writes document as missing', async () => {
    const { log, docs } = await projected(4);
    const cpIds = [...docs.keys()].filter((k) => k.startsWith('cp:'));
    const target = docs.get(cpIds[1]!)!;
    docs.set(cpIds[1]!, { ...target, metadata: { ...target.metadata, step: 999 } });
    let r = audit(log, docs);
    expect(r.first).toMatchObject({ kind: 'altered', docId: cpIds[1], position: target.pos });
    expect(r.perEvent.find((e) => e.position.offset === target.pos.offset)?.status).toBe('altered');
    docs.set(cpIds[1]!, target);
    const w = [...docs.keys()].find((k) => k.startsWith('w:'))!;
    const wdoc = docs.get(w)!;
    docs.delete(w);
    r = audit(log, docs);
    expect(r.first).toMatchObject({ kind: 'missing', docId: w, position: wdoc.pos });
    // pruned on purpose: not a divergence
    expect(audit(log, docs, new Set([w])).ok).toBe(true);
    // a value holder marked by a prune: pruned, unless anything else about it changed
    const holder = cpIds[0]!;
    docs.set(holder, { ...docs.get(holder)!, pruned: true });
    expect(audit(log, docs, new Set([w]), last(log), new Set([holder])).pruned).toBe(2);
    expect(audit(log, docs, new Set([w])).first).toMatchObject({ kind: 'altered', docId: holder });
    docs.set(holder, { ...docs.get(holder)!, pruned: true, ts: -1 });
    expect(audit(log, docs, new Set([w]), last(log), new Set([holder])).first).toMatchObject({ kind: 'altered', docId: holder });
  });

  it('an extra document no event makes is named', async () => {
    const { log, docs } = await projected(5);
    const cp = docs.get([...docs.keys()].find((k) => k.startsWith('cp:'))!)!;
    docs.set('cp:x::forged', { ...cp, _id: 'cp:x::forged', checkpointId: 'forged' });
    const r = audit(log, docs);
    expect(r.divergences.map((d) => [d.kind, d.docId])).toEqual([['extra', 'cp:x::forged']]);
  });

  it('an event without a document of its own (tombstoned, deleted) that differs in the log shows in its lane chain', async () => {
    const { log, docs } = await projected(6);
    // the first event is hidden by a later delete: no document keeps it, only the chain
    const deletes = log.filter((e) => e.event.type === 'thread-deleted');
    expect(deletes.length).toBeGreaterThan(0);
    const hidden = log.findIndex((e, i) => e.event.type !== 'thread-deleted' && log.slice(i + 1).some((d) => d.event.type === 'thread-deleted'));
    expect(audit(log, docs).ok).toBe(true);
    const altered = log.map((e, i) => (i === hidden ? { ...e, raw: Buffer.from('not what was projected') } : e));
    const r = audit(altered, docs);
    expect(r.ok).toBe(false);
    // the first divergence is at the altered event (or, if another event of its lane without a
    // document comes before it since the last matching link, at that one), never after it
    expect(r.first?.kind).toBe('altered');
    expect(r.first!.position.offset).toBeLessThanOrEqual(Number(log[hidden]!.position.offset));
    expect(r.perEvent.find((e) => e.position.offset === Number(log[hidden]!.position.offset))?.status).toBe('altered');
    // the same event missing from the log: the projection's chain has one event more
    const dropped = log.filter((_e, i) => i !== hidden);
    expect(audit(dropped, docs).divergences.some((d) => d.kind === 'extra' && d.docId?.startsWith('head:'))).toBe(true);
    // a delete altered: the tombstone's chain
    const del = log.indexOf(deletes[0]!);
    const r2 = audit(log.map((e, i) => (i === del ? { ...e, raw: Buffer.from('x') } : e)), docs);
    expect(r2.divergences.some((d) => d.docId?.startsWith('tomb:'))).toBe(true);
  });

  it('events past the applied offset are pending, their documents in flight', async () => {
    const { log, docs } = await projected(7);
    const through = Number(log[Math.floor(log.length / 2)]!.position.offset);
    const r = audit(log, docs, new Set(), through);
    expect(r.divergences).toEqual([]);
    expect(r.notYetProjected).toBe(log.length - r.audited);
    expect(r.perEvent.filter((e) => e.status === 'pending')).toHaveLength(r.notYetProjected);
  });
});
