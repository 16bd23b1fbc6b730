/**
 * The audit of one thread in projection layout 2 (projection/v2): the log against the stored
 * documents. The events the projection claims to have applied (offset <= its applied offset)
 * are projected again in memory, in one batch, by the same pure plan the projector runs —
 * layout 2 ends in the same documents whatever the batches were (the property test shows
 * it) — and every document is compared:
 * - a checkpoint or writes document carries its event's hash-chain link, so an event whose
 *   stored bytes differ from the log's is an altered document at that event's position;
 * - each lane's head (and the thread's tombstone) carries its lane's chain head and count,
 *   which commit to every event of the lane — superseded, tombstoned and deleted ones too —
 *   so an event without a document of its own that differs, is missing or is extra shows
 *   there, with the count telling which;
 * - documents a `threadlog prune` removed (prune markers) count as pruned, not missing.
 * Per event the report says verified / altered / missing / pending; documents no event makes
 * are extra. The delta chains of the whole log are checked as in layout 1 (chain-check.ts).
 */
import { createHash } from 'node:crypto';
import type { Document } from 'mongodb';
import { isThreadEnd, type LoggedEvent } from '../events/types.ts';
import { comparePos, toPos, type Pos } from '../projection/documents.ts';
import type { HeadDocV2, LaneChain, TombstoneDocV2 } from '../projection/v2/documents.ts';
import { createMemoryProjectionV2, type DocV2 } from '../projection/v2/memory.ts';
import { canonical, type AuditReport, type Divergence } from './audit.ts';
import { checkDeltaChains } from './chain-check.ts';

export type EventAuditStatus = 'verified' | 'altered' | 'missing' | 'pruned' | 'pending';

export interface AuditedEvent {
  position: Pos;
  eventId: string;
  type: string;
  status: EventAuditStatus;
}

export interface AuditInputV2 {
  threadId: string;
  /** the thread's events in log order */
  events: readonly LoggedEvent[];
  /** the projection's applied offset of the thread's partition; undefined: nothing applied */
  appliedThrough: number | undefined;
  /** the thread's stored documents by `_id`, BSON binaries as bytes */
  docs: ReadonlyMap<string, Document>;
  /** what prunes removed, and the checkpoints they marked as value holders */
  pruned: { removed: ReadonlySet<string>; held: ReadonlySet<string> };
}

export type AuditReportV2 = AuditReport & { layout: 2; perEvent: AuditedEvent[] };

const label = (p: Pos): string => `${p.partition}:${p.offset}`;

/** where a document says it stands in the log: its event, or its chain's last event */
function docPos(d: Document): Pos | undefined {
  const chain = (d as { chain?: LaneChain }).chain;
  if (chain !== undefined && !(d as { _id: string })._id.startsWith('cp:') && !(d as { _id: string })._id.startsWith('w:')) return chain.last;
  return (d as { pos?: Pos }).pos;
}

/** one digest over the lane chains (for a summary line; the per-lane heads are compared one by one) */
function chainsDigest(docs: Iterable<Document>): { head: string; count: number } {
  const lines: string[] = [];
  let count = 0;
  for (const d of docs) {
    const chain = (d as HeadDocV2 | TombstoneDocV2).chain;
    if (chain === undefined) continue;
    lines.push(`${String(d._id)} ${chain.head}`);
    count += chain.count;
  }
  if (lines.length === 0) return { head: '', count: 0 };
  return { head: createHash('sha256').update(lines.sort().join('\n')).digest('hex'), count };
}

export function auditThreadV2(input: AuditInputV2): AuditReportV2 {
  const applied = input.appliedThrough;
  const window = applied === undefined ? [] : input.events.filter((e) => Number(e.position.offset) <= applied);
  const mem = createMemoryProjectionV2();
  const plan = window.length === 0 ? undefined : mem.applyBatch(window);
  const expected = new Map<string, DocV2>(mem.docs().map((d) => [d._id, d]));
  // a document past the applied offset is in flight: written before the offset is recorded
  const inFlight = (d: Document | undefined): boolean => {
    const p = d === undefined ? undefined : docPos(d);
    return applied !== undefined && p !== undefined && p.offset > applied;
  };
  const divergences: Divergence[] = [];
  const eventAt = new Map(window.map((e) => [`${e.position.partition}:${e.position.offset}`, e.event.eventId]));
  const docStatus = new Map<string, EventAuditStatus>();
  let pruned = 0;
  for (const [id, want] of expected) {
    const got = input.docs.get(id);
    if (inFlight(got)) continue;
    const pos = docPos(want)!;
    const eventId = eventAt.get(label(pos));
    if (got === undefined) {
      if (input.pruned.removed.has(id)) {
        pruned += 1;
        docStatus.set(id, 'pruned');
        continue;
      }
      docStatus.set(id, 'missing');
      divergences.push({ kind: 'missing', position: pos, docId: id, ...(eventId ? { eventId } : {}), message: `document ${id} written by the event at ${label(pos)} is missing from the projection` });
    } else if (input.pruned.held.has(id) && (got as { pruned?: unknown }).pruned === true && canonical({ ...got, pruned: undefined }) === canonical(want)) {
      pruned += 1;
      docStatus.set(id, 'pruned');
    } else if (canonical(got) !== canonical(want)) {
      docStatus.set(id, 'altered');
      divergences.push(laneOrDoc(id, got, want, pos, eventId));
    } else docStatus.set(id, 'verified');
  }
  for (const [id, got] of input.docs) {
    if (expected.has(id) || inFlight(got)) continue;
    const pos = docPos(got) ?? { partition: -1, offset: -1 };
    divergences.push({ kind: 'extra', position: pos, docId: id, message: `document ${id} (position ${label(pos)}) is in the projection but no event of the log produces it` });
  }
  narrowLinkDivergences(divergences, window, plan, expected, input.docs);
  divergences.sort((a, b) => comparePos(a.position, b.position));

  // per event: its own document's status, else its lane's chain (head or tombstone)
  const ownDoc = new Map<number, string>();
  for (const { doc, event } of [...(plan?.checkpoints ?? []), ...(plan?.writes ?? [])]) ownDoc.set(event, doc._id);
  const laneDoc = (e: LoggedEvent): string | undefined => {
    const ev = e.event;
    const id = [...expected.keys()].find((k) => {
      const d = expected.get(k)!;
      if (isThreadEnd(ev)) return k.startsWith('tomb:');
      return k.startsWith('head:') && (d as HeadDocV2).checkpointNs === ev.checkpointNs;
    });
    return id;
  };
  const laneKeyOf = (e: LoggedEvent): string => (isThreadEnd(e.event) ? '\u0000delete' : e.event.checkpointNs);
  const laneKeyOfId = new Map<string, string>();
  window.forEach((e, i) => {
    const id = ownDoc.get(i);
    if (id !== undefined) laneKeyOfId.set(id, laneKeyOf(e));
  });
  const perEvent: AuditedEvent[] = input.events.map((e, i) => {
    const position = toPos(e.position);
    const base = { position, eventId: e.event.eventId, type: e.event.type };
    if (i >= window.length) return { ...base, status: 'pending' };
    const own = ownDoc.get(i);
    const lane = laneDoc(e);
    const ownStatus = own === undefined ? undefined : docStatus.get(own);
    if (ownStatus !== undefined && ownStatus !== 'verified') return { ...base, status: ownStatus };
    // within the lane: before the narrowed divergence the chain still matched
    const from = divergences.find((d) => d.kind === 'altered' && d.eventId !== undefined && d.docId !== undefined && laneKeyOf(e) === laneKeyOfId.get(d.docId))?.position;
    if (from !== undefined && comparePos(position, from) >= 0) return { ...base, status: 'altered' };
    if (from !== undefined) return { ...base, status: 'verified' };
    const laneStatus = lane === undefined ? undefined : docStatus.get(lane);
    return { ...base, status: own === undefined && laneStatus !== undefined && laneStatus !== 'pruned' ? laneStatus : (ownStatus ?? 'verified') };
  });

  const stored = chainsDigest([...input.docs.values()].filter((d) => !inFlight(d) && (String(d._id).startsWith('head:') || String(d._id).startsWith('tomb:'))));
  const want = chainsDigest([...expected.values()].filter((d) => d._id.startsWith('head:') || d._id.startsWith('tomb:')));
  const assembly = checkDeltaChains(input.events);
  return {
    layout: 2,
    threadId: input.threadId,
    events: input.events.length,
    audited: window.length,
    notYetProjected: input.events.length - window.length,
    documents: input.docs.size,
    pruned,
    chain: { head: stored.head, count: stored.count, expectedHead: want.head },
    assembly,
    ok: divergences.length === 0 && assembly.problems.length === 0,
    first: divergences[0],
    divergences,
    perEvent,
  };
}

/** An altered document; for a lane's head or tombstone, what its chain says about the events. */
function laneOrDoc(id: string, got: Document, want: DocV2, pos: Pos, eventId: string | undefined): Divergence {
  const g = (got as { chain?: LaneChain }).chain;
  const w = (want as { chain?: LaneChain }).chain;
  if ((id.startsWith('head:') || id.startsWith('tomb:')) && w !== undefined && (g === undefined || g.head !== w.head)) {
    const n = g?.count ?? 0;
    const what =
      n < w.count
        ? `${w.count - n} event(s) of the lane are missing from its hash chain`
        : n > w.count
          ? `its hash chain holds ${n - w.count} event(s) the log does not have`
          : 'an event of the lane was projected from different bytes than the log holds';
    return { kind: n < w.count ? 'missing' : n > w.count ? 'extra' : 'altered', position: pos, docId: id, message: `${id}: ${what} (chain of ${n} events, the log gives ${w.count}, last at ${label(w.last)})` };
  }
  return { kind: 'altered', position: pos, docId: id, ...(eventId ? { eventId } : {}), message: `document ${id} does not match what the event at ${label(pos)} says` };
}

const withoutLink = (d: Document): string => {
  const { link: _link, ...rest } = d as { link?: string };
  return canonical(rest);
};

/**
 * Links commit to their lane's whole prefix: a document that differs only in its link says
 * that some event of its lane at or before it differs — possibly one without a document of
 * its own (a superseded or tombstoned checkpoint, a delete). Such divergences are moved to
 * the first event after the lane's last document whose link still matches, and only the
 * lane's first is kept.
 */
function narrowLinkDivergences(divergences: Divergence[], window: readonly LoggedEvent[], plan: ReturnType<ReturnType<typeof createMemoryProjectionV2>['applyBatch']> | undefined, expected: ReadonlyMap<string, DocV2>, stored: ReadonlyMap<string, Document>): void {
  if (plan === undefined) return;
  const docOf = new Map<number, string>();
  for (const { doc, event } of [...plan.checkpoints, ...plan.writes]) docOf.set(event, doc._id);
  const laneOf = (e: LoggedEvent): string => (isThreadEnd(e.event) ? '\u0000delete' : e.event.checkpointNs);
  const seenLanes = new Set<string>();
  for (let k = 0; k < divergences.length; k++) {
    const d = divergences[k]!;
    if (d.kind !== 'altered' || d.docId === undefined || !(d.docId.startsWith('cp:') || d.docId.startsWith('w:'))) continue;
    const got = stored.get(d.docId);
    const want = expected.get(d.docId);
    if (got === undefined || want === undefined || withoutLink(got) !== withoutLink(want as Document)) continue;
    const at = window.findIndex((_e, i) => docOf.get(i) === d.docId);
    if (at < 0) continue;
    const lane = laneOf(window[at]!);
    if (seenLanes.has(lane)) {
      divergences.splice(k--, 1);
      continue;
    }
    seenLanes.add(lane);
    // back to the lane's last document whose link matches
    let start = at;
    for (let i = at - 1; i >= 0; i--) {
      const e = window[i]!;
      if (laneOf(e) !== lane) continue;
      const id = docOf.get(i);
      const g = id === undefined ? undefined : stored.get(id);
      if (id !== undefined && g !== undefined && (g as { link?: string }).link === (expected.get(id) as { link?: string } | undefined)?.link) break;
      start = i;
    }
    const e = window[start]!;
    divergences[k] = {
      kind: 'altered',
      position: toPos(e.position),
      eventId: e.event.eventId,
      docId: d.docId,
      message: `the hash chain of the lane diverges at or after the event at ${label(toPos(e.position))} (${e.event.type}): the log's bytes there are not what was projected (first differing link in ${d.docId})`,
    };
  }
}
