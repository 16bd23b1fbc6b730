/**
 * Which documents of a thread a prune removes in projection layout 2 (pure). The log is never
 * touched. Kept, per (thread, namespace), as in layout 1 (ops/prune.ts): the newest `keep`
 * checkpoints, with a cut-off every checkpoint saved at or after it, every checkpoint with
 * pending writes and no child, and the parent of each of those.
 *
 * In layout 2 a checkpoint's values may live in older checkpoint documents (its `origins`, and
 * the `baseCheckpoint` of skip-delta appends, recursively). Those documents stay as **value
 * holders**: marked `pruned` — no longer read or listed as checkpoints, so their own origins
 * and pending writes are not needed — but still holding the values (and spilled parts) that
 * kept checkpoints read through them. Removed: the other checkpoint documents, the writes
 * documents of every pruned checkpoint, and the spilled parts no kept value needs.
 */
import { ThreadlogError } from '../errors.ts';
import { compareCheckpointIds, type Pos } from '../projection/documents.ts';
import type { PruneOptions } from './prune.ts';

export interface PruneCheckpointV2 {
  _id: string;
  checkpointNs: string;
  checkpointId: string;
  parentCheckpointId?: string;
  ts: number;
  pos: Pos;
  /** checkpoints holding this checkpoint's values (its `origins`) */
  origins: string[];
  /** checkpoints holding the bases of the appends stored in this document */
  bases: string[];
}

/** a writes document or a blob part: belongs to one checkpoint */
export interface PruneOwnedV2 {
  _id: string;
  checkpointNs: string;
  checkpointId: string;
}

export interface PrunePlanV2 {
  keptCheckpoints: number;
  /** checkpoint documents kept only because kept checkpoints' values live in them */
  valueHolders: number;
  /** `_id`s of the value holders to mark `pruned` */
  hold: string[];
  remove: { checkpoints: string[]; writes: string[]; blobs: string[] };
}

const key = (ns: string, id: string): string => `${ns}\u0000${id}`;

export function planPruneV2(cps: readonly PruneCheckpointV2[], writes: readonly PruneOwnedV2[], blobs: readonly PruneOwnedV2[], o: PruneOptions): PrunePlanV2 {
  if (!Number.isSafeInteger(o.keep) || o.keep < 1) throw new ThreadlogError('invalid-options', '--keep must be an integer >= 1');
  const withWrites = new Set(writes.map((w) => key(w.checkpointNs, w.checkpointId)));
  const hasChild = new Set(cps.filter((c) => c.parentCheckpointId !== undefined).map((c) => key(c.checkpointNs, c.parentCheckpointId!)));
  const byNs = new Map<string, PruneCheckpointV2[]>();
  for (const c of cps) byNs.set(c.checkpointNs, [...(byNs.get(c.checkpointNs) ?? []), c]);
  const byKey = new Map(cps.map((c) => [key(c.checkpointNs, c.checkpointId), c]));

  const kept = new Set<string>();
  for (const list of byNs.values()) {
    list.sort((a, b) => compareCheckpointIds(b.checkpointId, a.checkpointId));
    list.forEach((c, i) => {
      const k = key(c.checkpointNs, c.checkpointId);
      const pendingLeaf = withWrites.has(k) && !hasChild.has(k);
      if (i < o.keep || (o.olderThan !== undefined && c.ts >= o.olderThan) || pendingLeaf) kept.add(k);
    });
  }
  for (const k of [...kept]) {
    const c = byKey.get(k)!;
    if (c.parentCheckpointId !== undefined) kept.add(key(c.checkpointNs, c.parentCheckpointId));
  }
  // value holders: origins of every kept checkpoint, then the bases their values append to
  const todo = [...kept];
  const holders = new Set<string>();
  const hold = (ns: string, id: string): void => {
    const k = key(ns, id);
    if (kept.has(k) || holders.has(k)) return;
    holders.add(k);
    todo.push(k);
  };
  while (todo.length > 0) {
    const k = todo.pop()!;
    const c = byKey.get(k);
    if (c === undefined) continue;
    if (kept.has(k)) for (const o2 of c.origins) hold(c.checkpointNs, o2);
    for (const b of c.bases) hold(c.checkpointNs, b);
  }
  const gone = cps.filter((c) => !kept.has(key(c.checkpointNs, c.checkpointId)) && !holders.has(key(c.checkpointNs, c.checkpointId)));
  const goneKeys = new Set(gone.map((c) => key(c.checkpointNs, c.checkpointId)));
  const held = cps.filter((c) => holders.has(key(c.checkpointNs, c.checkpointId)));
  const notKept = (d: PruneOwnedV2): boolean => !kept.has(key(d.checkpointNs, d.checkpointId));
  return {
    keptCheckpoints: cps.length - gone.length - held.length,
    valueHolders: held.length,
    hold: held.map((c) => c._id),
    remove: {
      checkpoints: gone.map((c) => c._id),
      writes: writes.filter(notKept).map((w) => w._id),
      // a holder's spilled parts are its values
      blobs: blobs.filter((b) => goneKeys.has(key(b.checkpointNs, b.checkpointId))).map((b) => b._id),
    },
  };
}
