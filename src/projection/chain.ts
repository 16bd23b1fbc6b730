/**
 * Tamper evidence: per thread, a hash chain over the thread's events as the log orders them,
 * link_n = sha256(link_{n-1} || stored bytes of event n), link_0 = 32 zero bytes. Every event
 * counts — tombstoned, superseded and thread-deleted ones too — so the chain is a function of
 * the log alone and any projector, rebuild or audit computes the same links.
 *
 * Stored in `<generation>_chains` beside the projection (deletions and prunes never touch it):
 * - `chain:<thread>`: head link, count, position of the last chained event. The position
 *   guards idempotency: an event at or before it is already in the chain.
 * - `link:<thread>:<partition>:<offset>`: the link after that event, its id, type and
 *   checkpoint id. Audit recomputes the links from the log and looks these up by exact `_id`
 *   (the one lookup FerretDB serves without a scan), bisecting to the first divergence.
 * - `prune:<thread>:<time>:<n>`: `_id`s a `threadlog prune` removed on purpose.
 * Pure: node:crypto only.
 */
import { createHash } from 'node:crypto';
import { isThreadEnd } from '../events/types.ts';
import { comparePos, toPos, type Pos, type PositionedEvent } from './documents.ts';
import { encodeIdPart } from './ids.ts';

export const GENESIS_LINK = '0'.repeat(64);

export function nextLink(prev: string, raw: Uint8Array): string {
  return createHash('sha256').update(Buffer.from(prev, 'hex')).update(raw).digest('hex');
}

export interface ChainDoc {
  _id: string;
  threadId: string;
  head: string;
  count: number;
  /** the last chained event */
  pos: Pos;
  /** the first chained event */
  first: Pos;
}

export interface LinkDoc {
  _id: string;
  threadId: string;
  /** link after this event */
  hash: string;
  /** 1-based index of the event in the thread's chain */
  n: number;
  eventId: string;
  type: string;
  checkpointId?: string;
  pos: Pos;
}

export interface PruneDoc {
  _id: string;
  threadId: string;
  at: number;
  /** the projection `_id`s removed */
  removed: string[];
}

// offsets padded so `_id` order is log order within a partition
const pad = (offset: number): string => String(offset).padStart(16, '0');

export const chainIds = {
  chain: (thread: string): string => `chain:${encodeIdPart(thread)}`,
  link: (thread: string, pos: Pos): string => `link:${encodeIdPart(thread)}:${pos.partition}:${pad(pos.offset)}`,
  prune: (thread: string, at: number, n: number): string => `prune:${encodeIdPart(thread)}:${pad(at)}:${n}`,
  /** `_id` range of a kind for one thread, or (no thread) of every thread */
  range(kind: 'chain' | 'link' | 'prune', thread?: string): { $gte: string; $lt: string } {
    const start = thread === undefined ? `${kind}:` : `${kind}:${encodeIdPart(thread)}${kind === 'chain' ? '' : ':'}`;
    if (kind === 'chain' && thread !== undefined) return { $gte: start, $lt: `${start}\u0000` };
    return { $gte: start, $lt: `${start.slice(0, -1)};` };
  },
};

/** An event with its stored bytes: only those can be chained. */
export type ChainableEvent = PositionedEvent & { raw: Uint8Array };

export interface ChainPlan {
  /** new or advanced chain heads, with the head they replace (undefined: new) */
  chains: Array<{ doc: ChainDoc; previous: ChainDoc | undefined }>;
  links: LinkDoc[];
}

/** Extends each thread's stored chain with the events after its last chained position. */
export function planChains(events: readonly PositionedEvent[], stored: ReadonlyMap<string, ChainDoc>): ChainPlan {
  const byThread = new Map<string, Array<{ e: ChainableEvent; pos: Pos }>>();
  for (const e of events) {
    if (e.raw === undefined) continue;
    const list = byThread.get(e.event.threadId) ?? [];
    byThread.set(e.event.threadId, list);
    list.push({ e: e as ChainableEvent, pos: toPos(e.position) });
  }
  const plan: ChainPlan = { chains: [], links: [] };
  for (const [threadId, list] of byThread) {
    list.sort((a, b) => comparePos(a.pos, b.pos));
    const previous = stored.get(threadId);
    let head = previous?.head ?? GENESIS_LINK;
    let count = previous?.count ?? 0;
    let last = previous?.pos;
    let first = previous?.first;
    for (const { e, pos } of list) {
      if (last !== undefined && comparePos(pos, last) <= 0) continue; // redelivered: chained already
      head = nextLink(head, e.raw);
      count += 1;
      last = pos;
      first ??= pos;
      const ev = e.event;
      plan.links.push({
        _id: chainIds.link(threadId, pos),
        threadId,
        hash: head,
        n: count,
        eventId: ev.eventId,
        type: ev.type,
        ...(isThreadEnd(ev) ? {} : { checkpointId: ev.checkpointId }),
        pos,
      });
    }
    if (count !== (previous?.count ?? 0)) {
      plan.chains.push({ doc: { _id: chainIds.chain(threadId), threadId, head, count, pos: last!, first: first! }, previous });
    }
  }
  return plan;
}
