/**
 * Layout 2 held in a Map: `planBatchV2` applied with the same guards the MongoDB adapter uses
 * (newer-wins checkpoints, insert-once writes and blob parts, heads and tombstones replaced
 * only under the chain position they were planned from). The reference the adapter and the
 * audit are checked against, and a store for unit tests. Reads resolve values the way the SDK
 * does: through `origins` and `baseCheckpoint`, by exact `_id`.
 */
import type { ChannelValue, ChannelVersion } from '../../events/types.ts';
import { comparePos, type Pos } from '../documents.ts';
import { ids, idRange } from '../ids.ts';
import type { BlobPartDocV2, CheckpointDocV2, HeadDocV2, StoredValue, TombstoneDocV2, WritesDocV2 } from './documents.ts';
import { idsV2 } from './documents.ts';
import { infoOfDoc, lookupsFor, planBatchV2, type ChainedEvent, type KnownState, type PlanV2 } from './plan.ts';
import { unpackSpilled } from './spill.ts';

export type DocV2 = CheckpointDocV2 | WritesDocV2 | HeadDocV2 | TombstoneDocV2 | BlobPartDocV2;

export interface MemoryProjectionV2 {
  /** plans and applies one batch; returns the plan */
  applyBatch(events: readonly ChainedEvent[]): PlanV2;
  get(id: string): DocV2 | undefined;
  /** every document, sorted by `_id` */
  docs(): DocV2[];
  /** drops a document, as a prune does (tests) */
  remove(id: string): void;
  /** marks a checkpoint document a value holder, as a prune does (tests) */
  hold(id: string): void;
  known: KnownState;
}

const inRange = (id: string, r: { $gte: string; $lt: string }): boolean => id >= r.$gte && id < r.$lt;

export function knownFromDocs(get: (id: string) => DocV2 | undefined): KnownState {
  return {
    tombstone: (t) => (get(ids.tombstone(t)) as TombstoneDocV2 | undefined)?.pos,
    tombstoneChain: (t) => (get(ids.tombstone(t)) as TombstoneDocV2 | undefined)?.chain,
    erased: (t) => (get(ids.tombstone(t)) as TombstoneDocV2 | undefined)?.erased,
    head: (t, ns) => get(ids.head(t, ns)) as HeadDocV2 | undefined,
    checkpoint(t, ns, id) {
      const d = get(ids.checkpoint(t, ns, id)) as CheckpointDocV2 | undefined;
      return d === undefined ? undefined : infoOfDoc(d);
    },
    recent: () => undefined,
  };
}

export function createMemoryProjectionV2(): MemoryProjectionV2 {
  const store = new Map<string, DocV2>();
  const known = knownFromDocs((id) => store.get(id));
  const chainLast = (d: DocV2 | undefined): Pos | null => (d && 'chain' in d && d.chain ? d.chain.last : null);
  const samePos = (a: Pos | null, b: Pos | null): boolean => (a === null || b === null ? a === b : comparePos(a, b) === 0);

  function apply(plan: PlanV2): void {
    for (const { threadId, before } of plan.deletions) {
      for (const kind of ['cp', 'w', 'blob'] as const) {
        const r = idRange(kind, threadId);
        for (const [id, d] of store) if (inRange(id, r) && comparePos((d as { pos: Pos }).pos, before) < 0) store.delete(id);
      }
      const r = idRange('head', threadId);
      for (const [id, d] of store) {
        const h = d as HeadDocV2;
        if (inRange(id, r) && h.head !== undefined && comparePos(h.head.pos, before) < 0) {
          const { head: _h, ...rest } = h;
          store.set(id, rest);
        }
      }
    }
    for (const { doc } of plan.checkpoints) {
      const cur = store.get(doc._id) as CheckpointDocV2 | undefined;
      if (cur === undefined || comparePos(cur.pos, doc.pos) < 0) store.set(doc._id, doc);
    }
    for (const { doc } of plan.writes) if (!store.has(doc._id)) store.set(doc._id, doc);
    for (const doc of plan.blobs) if (!store.has(doc._id)) store.set(doc._id, doc);
    for (const { doc, expected } of [...plan.heads, ...plan.tombstones]) {
      if (samePos(chainLast(store.get(doc._id)), expected)) store.set(doc._id, doc);
    }
  }

  return {
    applyBatch(events) {
      // as the MongoDB applier does: stored checkpoints are known only once looked up, and
      // only those the plan asks for (a plan that needs one it did not ask for is a bug)
      const looked = new Set(lookupsFor(events, { ...known, checkpoint: () => undefined }).map((w) => ids.checkpoint(w.threadId, w.checkpointNs, w.checkpointId)));
      const plan = planBatchV2(events, { ...known, checkpoint: (t, ns, id) => (looked.has(ids.checkpoint(t, ns, id)) ? known.checkpoint(t, ns, id) : undefined) });
      apply(plan);
      return plan;
    },
    get: (id) => store.get(id),
    remove: (id) => void store.delete(id),
    hold(id) {
      const d = store.get(id);
      if (d !== undefined) store.set(id, { ...d, pruned: true } as DocV2);
    },
    docs: () => [...store.values()].sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0)),
    known,
  };
}

/** A stored value as the event carried it (spilled ones put back together). */
export function channelValueOf(doc: CheckpointDocV2, channel: string, version: ChannelVersion, parts: (id: string) => Uint8Array | undefined): ChannelValue | undefined {
  const v = doc.values.find((x) => x.channel === channel && x.version === version);
  if (v === undefined) return undefined;
  const inline: Exclude<StoredValue, { kind: 'spilled' }> | undefined =
    v.kind === 'spilled' ? unpackSpilled(Array.from({ length: v.parts }, (_, i) => parts(idsV2.blobPart(doc.threadId, doc.checkpointNs, doc.checkpointId, channel, i)) ?? new Uint8Array())) : v;
  if (inline.kind === 'snapshot') return { kind: 'snapshot', channel, version, value: inline.value };
  return {
    kind: 'append',
    channel,
    version,
    base: inline.base,
    depth: inline.depth,
    items: inline.items,
    ...(inline.baseLength === undefined ? {} : { baseLength: inline.baseLength }),
    ...(inline.baseCheckpoint === undefined ? {} : { baseCheckpoint: inline.baseCheckpoint }),
  };
}
