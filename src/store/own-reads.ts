/**
 * `session` reads of this instance's own writes without waiting for the projector. The answer
 * is what the projection will show once it applied those writes, as far as this instance can
 * know it: the projected head as it is now when it is newer (in head order) than the own head
 * — another writer's later checkpoint — else the own checkpoint, assembled like the
 * projection assembles it. Whenever that cannot be known (an incomplete record, a channel
 * value neither in L1 nor projected, own pending writes on someone else's checkpoint), the
 * answer is undefined and the caller waits for the watermark as before.
 *
 * Not covered, as `session` promises only this instance's writes: pending writes that other
 * processes put on an own checkpoint, and a re-put of an own checkpoint id by another process,
 * show once projected (or with `strong`, or `after` their receipts).
 */
import { LRUCache } from 'lru-cache';
import { compareHeads, toPos } from '../projection/documents.ts';
import type { Assembler } from './assemble.ts';
import type { OwnCheckpoint, OwnWritesView } from './own-writes.ts';
import type { ProjectedHead, Reader, Served } from './reader.ts';
import type { Requirement } from './requirements.ts';
import { NONE } from './session.ts';
import type { Consistency, ReadOptions } from './types.ts';

export interface OwnReadsDeps {
  own: OwnWritesView;
  reader: Reader;
  assembler: Assembler;
  topic: string;
  defaultConsistency: Consistency;
  /** how long a projected head read for an own thread is reused (options.ts `headCheckMs`) */
  headCheckMs: number;
}

export interface OwnReads {
  /** the read's answer from own writes and the projection as it is now; undefined: wait */
  load(threadId: string, ns: string, checkpointId: string | undefined, req: Requirement, options: ReadOptions | undefined): Promise<Served | undefined>;
  /**
   * A thread listing without waiting for the projector: the own checkpoints (newest id first)
   * to merge into what the projection lists now, each served from the record when it can be.
   * Undefined when the record cannot stand in for the projection: not eligible, or own events
   * it cannot list (pruned, or writes on others' checkpoints) that `known` does not cover.
   */
  listing(threadId: string, ns: string | undefined, partition: number, known: bigint, options: ReadOptions | undefined): OwnThreadListing | undefined;
  /** forget the projected heads read for a thread (deleted or erased here) */
  forget(threadId: string): void;
}

export interface OwnThreadListing {
  checkpoints: OwnCheckpoint[];
  /** the checkpoint as a session read gives it; undefined: the record cannot assemble it now */
  serve(mine: OwnCheckpoint): Promise<Served | undefined>;
}

const newer = (h: ProjectedHead, mine: OwnCheckpoint): boolean =>
  compareHeads({ checkpointId: h.checkpointId, pos: toPos(h.position) }, { checkpointId: mine.checkpointId, pos: toPos(mine.position) }) > 0;

// threads whose projected head is remembered (each a few hundred bytes)
const MAX_HEAD_THREADS = 20_000;
// namespaces per thread before the expired ones are swept out
const MAX_NAMESPACES = 32;

export function createOwnReads(d: OwnReadsDeps): OwnReads {
  const { own, reader } = d;
  /**
   * The projected head of own threads as read lately, per namespace: a read of an own thread
   * asks Redis (a round trip, and on a miss MongoDB) at most once per `headCheckMs`. Only
   * another process's checkpoint can be newer than the own head, and the projector shows it
   * seconds after it was written anyway; this adds at most `headCheckMs` to that.
   */
  const heads = new LRUCache<string, Map<string, { at: number; head: ProjectedHead | undefined }>>({ max: MAX_HEAD_THREADS });

  async function projectedHead(threadId: string, ns: string): Promise<ProjectedHead | undefined> {
    if (d.headCheckMs === 0) return reader.projectedHead(threadId, ns);
    const now = performance.now();
    let byNs = heads.get(threadId);
    const seen = byNs?.get(ns);
    // a head read before a delete this instance learnt of since is dropped by alive()
    if (seen !== undefined && now - seen.at < d.headCheckMs) return seen.head !== undefined && reader.alive(threadId, seen.head.position) ? seen.head : undefined;
    const head = await reader.projectedHead(threadId, ns);
    if (byNs === undefined) heads.set(threadId, (byNs = new Map()));
    // a thread's namespaces come and go (a subgraph run gets its own): expired ones are useless
    if (byNs.size >= MAX_NAMESPACES) for (const [k, v] of byNs) if (now - v.at >= d.headCheckMs) byNs.delete(k);
    // not Redis' payload (the head checkpoint's whole entry): only what orders it
    byNs.set(ns, { at: now, head: head === undefined ? undefined : { checkpointId: head.checkpointId, position: head.position } });
    return head;
  }
  // the projection as it is: nothing of this instance's is involved in what is read
  const now = (partition: number): Requirement => ({ partition, wait: NONE, head: NONE });

  /** only own writes to wait for: session, or receipts this instance wrote itself */
  function eligible(threadId: string, partition: number, options: ReadOptions | undefined): boolean {
    if ((options?.consistency ?? d.defaultConsistency) === 'strong' || !own.complete(threadId)) return false;
    const after = options?.after;
    const receipts = after === undefined ? [] : Array.isArray(after) ? after : [after];
    return receipts.every((r) => (r.topic !== undefined && r.topic !== d.topic) || r.partition !== partition || own.isOwn(threadId, r));
  }

  /** a projected checkpoint, unless own pending writes on it may not be projected yet */
  function untouched(threadId: string, ns: string, served: Served): Served | undefined {
    const v = served.value;
    if (v === undefined) return served;
    return own.writes(threadId, ns, v.checkpointId)?.length === 0 ? served : undefined;
  }

  async function fromOwn(mine: OwnCheckpoint): Promise<Served | undefined> {
    const { threadId, checkpointNs: ns, checkpointId } = mine;
    const writes = own.writes(threadId, ns, checkpointId);
    if (writes === undefined || !reader.alive(threadId, mine.position)) return undefined;
    const pending = writes.map((w) => ({ taskId: w.taskId, channel: w.channel, value: w.value }));
    // the values an own save wrote, kept whole: no delta chain to walk through L1
    const wholes = own.wholeValues(threadId, ns, mine.checkpoint.channel_versions);
    const entry =
      wholes !== undefined
        ? d.assembler.known(mine, wholes, pending)
        : await d.assembler.assembleKnown(mine, pending, (channel, version) => own.isEmpty(threadId, ns, channel, version));
    if (entry === undefined) return undefined;
    // served from memory: the record and channel values in L1
    reader.countHit('l1');
    return { value: await d.assembler.toStored(entry), level: 'l1' };
  }

  async function latest(threadId: string, ns: string, p: number): Promise<Served | undefined> {
    const mine = own.head(threadId, ns);
    if (mine === undefined) return untouched(threadId, ns, await reader.latest(threadId, ns, now(p)));
    const head = await projectedHead(threadId, ns);
    if (head === undefined || !newer(head, mine)) return fromOwn(mine);
    // another writer's later checkpoint is projected: the projection's head stays ahead of ours
    const served = await reader.byId(threadId, ns, head.checkpointId, now(p), head.payload);
    return served.value === undefined ? undefined : untouched(threadId, ns, served);
  }

  async function byId(threadId: string, ns: string, id: string, p: number): Promise<Served | undefined> {
    const mine = own.checkpoint(threadId, ns, id);
    if (mine !== undefined) return fromOwn(mine);
    // not saved here (or no longer known): only an untouched checkpoint is answered as it is
    return own.writes(threadId, ns, id)?.length === 0 ? reader.byId(threadId, ns, id, now(p)) : undefined;
  }

  return {
    forget(threadId) {
      heads.delete(threadId);
    },

    listing(threadId, ns, partition, known, options) {
      if (!eligible(threadId, partition, options)) return undefined;
      const l = own.listing(threadId, ns);
      if (l === undefined || l.unlistedAt > known) return undefined;
      return { checkpoints: l.checkpoints.filter((c) => reader.alive(threadId, c.position)), serve: fromOwn };
    },

    async load(threadId, ns, checkpointId, req, options) {
      if (!eligible(threadId, req.partition, options)) return undefined;
      return checkpointId === undefined ? latest(threadId, ns, req.partition) : byId(threadId, ns, checkpointId, req.partition);
    },
  };
}
