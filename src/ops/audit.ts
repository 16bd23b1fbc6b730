/**
 * The audit of one thread: the log (re-read from Kafka) against the projection. Two checks,
 * both over the events the projection claims to have applied (offset <= its applied offset
 * for the partition; later events are "not yet projected", not a divergence):
 * 1. the hash chain (projection/chain.ts) recomputed from the log's stored bytes against the
 *    stored chain head; on a mismatch, stored links are bisected by exact `_id` lookups to the
 *    first event whose link differs;
 * 2. the documents: the projection `evolve` would build from these events (the in-memory
 *    reference) against the thread's stored documents — missing, extra or altered content.
 *    Documents a `threadlog prune` removed (recorded in prune markers) count as pruned.
 * The first divergence is the one at the lowest log position.
 * 3. the delta chains over the whole log (chain-check.ts): every checkpoint can be assembled.
 *    A broken chain is in the log itself, so log and projection may agree and still fail it.
 */
import type { Document } from 'mongodb';
import type { LoggedEvent } from '../events/types.ts';
import { GENESIS_LINK, nextLink, type ChainDoc, type LinkDoc } from '../projection/chain.ts';
import { comparePos, toPos, type Pos } from '../projection/documents.ts';
import { createMemoryProjection } from '../projection/in-memory.ts';
import { checkDeltaChains, type ChainCheckReport } from './chain-check.ts';

export type DivergenceKind = 'missing' | 'extra' | 'altered';

export interface Divergence {
  kind: DivergenceKind;
  /** log position of the event concerned */
  position: Pos;
  /** `_id` of the projection document concerned, if any */
  docId?: string;
  eventId?: string;
  message: string;
}

export interface AuditInput {
  threadId: string;
  /** the thread's events in log order */
  events: readonly LoggedEvent[];
  /** the projection's applied offset of the thread's partition; undefined: nothing applied */
  appliedThrough: number | undefined;
  chain: ChainDoc | undefined;
  getLink(pos: Pos): Promise<LinkDoc | undefined>;
  /** the thread's stored documents by `_id` */
  docs: ReadonlyMap<string, Document>;
  pruned: ReadonlySet<string>;
}

export interface AuditReport {
  threadId: string;
  events: number;
  /** events the projection should reflect */
  audited: number;
  /** events after the projection's applied offset */
  notYetProjected: number;
  documents: number;
  pruned: number;
  chain: { head: string; count: number; expectedHead: string };
  /** can every checkpoint be assembled from the log (append deltas whose bases are there)? */
  assembly: ChainCheckReport;
  /** no divergence and no broken delta chain */
  ok: boolean;
  first: Divergence | undefined;
  divergences: Divergence[];
}

/** JSON with sorted keys, bytes as base64, null/undefined fields dropped (FerretDB drops nulls). */
export function canonical(v: unknown): string {
  const norm = (x: unknown): unknown => {
    if (x instanceof Uint8Array) return { $bytes: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64') };
    if (Array.isArray(x)) return x.map(norm);
    if (x === null || typeof x !== 'object') return x;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(x).sort()) {
      const val = (x as Record<string, unknown>)[k];
      if (val !== null && val !== undefined) out[k] = norm(val);
    }
    return out;
  };
  return JSON.stringify(norm(v));
}

const label = (p: Pos): string => `${p.partition}:${p.offset}`;

export async function auditThread(input: AuditInput): Promise<AuditReport> {
  const window = input.appliedThrough === undefined ? [] : input.events.filter((e) => Number(e.position.offset) <= input.appliedThrough!);
  const links: string[] = [];
  let head = GENESIS_LINK;
  for (const e of window) links.push((head = nextLink(head, e.raw)));
  const divergences: Divergence[] = [];
  const chainDiv = await checkChain(input, window, links);
  if (chainDiv) divergences.push(chainDiv);
  const docs = checkDocuments(input, window);
  divergences.push(...docs.divergences);
  divergences.sort((a, b) => comparePos(a.position, b.position));
  const assembly = checkDeltaChains(input.events);
  return {
    threadId: input.threadId,
    events: input.events.length,
    audited: window.length,
    notYetProjected: input.events.length - window.length,
    documents: input.docs.size,
    pruned: docs.pruned,
    chain: { head: input.chain?.head ?? '', count: input.chain?.count ?? 0, expectedHead: head },
    assembly,
    ok: divergences.length === 0 && assembly.problems.length === 0,
    first: divergences[0],
    divergences,
  };
}

async function checkChain(input: AuditInput, window: readonly LoggedEvent[], links: string[]): Promise<Divergence | undefined> {
  const { chain } = input;
  const last = window.at(-1);
  if (last === undefined) {
    if (chain === undefined) return undefined;
    return { kind: 'extra', position: chain.pos, message: `the projection chained ${chain.count} events but the log has none up to its applied offset` };
  }
  if (chain === undefined) {
    const first = window[0]!;
    return { kind: 'missing', position: toPos(first.position), eventId: first.event.eventId, message: 'the projection has no hash chain for this thread (projected before chains existed, or the chain document was removed): rebuild the generation' };
  }
  if (chain.count === window.length && chain.head === links.at(-1) && comparePos(chain.pos, toPos(last.position)) === 0) return undefined;
  // bisect for the first event whose stored link differs (a chain link commits to its whole prefix)
  const good = async (i: number): Promise<boolean> => (await input.getLink(toPos(window[i]!.position)))?.hash === links[i];
  let lo = 0;
  let hi = window.length; // first bad index is in [lo, hi]
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (await good(mid)) lo = mid + 1;
    else hi = mid;
  }
  if (lo === window.length) {
    return { kind: 'extra', position: chain.pos, message: `the projection's chain has ${chain.count} events (last at ${label(chain.pos)}), the log ${window.length}: events the log does not have` };
  }
  const e = window[lo]!;
  const pos = toPos(e.position);
  const link = await input.getLink(pos);
  if (link === undefined) {
    return { kind: 'missing', position: pos, eventId: e.event.eventId, message: `event ${lo + 1} (${e.event.type}) at ${label(pos)} is not in the projection's hash chain` };
  }
  return {
    kind: 'altered',
    position: pos,
    eventId: e.event.eventId,
    message: link.eventId === e.event.eventId
      ? `event ${lo + 1} (${e.event.type}) at ${label(pos)} was projected from different bytes than the log holds`
      : `the projection chained event ${link.eventId} at ${label(pos)}, the log has ${e.event.eventId}`,
  };
}

function checkDocuments(input: AuditInput, window: readonly LoggedEvent[]): { divergences: Divergence[]; pruned: number } {
  const mem = createMemoryProjection();
  for (const e of window) mem.apply(e);
  const expected = new Map(mem.docs().filter((d) => 'threadId' in d).map((d) => [d._id, d as Document & { _id: string; pos: Pos }]));
  const eventAt = new Map(window.map((e) => [`${e.position.offset}`, e.event.eventId]));
  const divergences: Divergence[] = [];
  let pruned = 0;
  // documents of events past the applied offset are in flight (applied before the offset is recorded)
  const inFlight = (d: Document | undefined): boolean =>
    input.appliedThrough !== undefined && ((d as { pos?: Pos } | undefined)?.pos?.offset ?? -1) > input.appliedThrough;
  for (const [id, want] of expected) {
    const got = input.docs.get(id);
    if (inFlight(got)) continue;
    const eventId = eventAt.get(String(want.pos.offset));
    if (got === undefined) {
      if (input.pruned.has(id)) pruned += 1;
      else divergences.push({ kind: 'missing', position: want.pos, docId: id, ...(eventId ? { eventId } : {}), message: `document ${id} written by the event at ${label(want.pos)} is missing from the projection` });
    } else if (canonical(got) !== canonical(want)) {
      divergences.push({ kind: 'altered', position: want.pos, docId: id, ...(eventId ? { eventId } : {}), message: `document ${id} does not match what the event at ${label(want.pos)} says` });
    }
  }
  for (const [id, got] of input.docs) {
    if (expected.has(id) || inFlight(got)) continue;
    const pos = (got as { pos?: Pos }).pos ?? { partition: -1, offset: -1 };
    divergences.push({ kind: 'extra', position: pos, docId: id, message: `document ${id} (position ${label(pos)}) is in the projection but no event of the log produces it` });
  }
  return { divergences, pruned };
}
