/**
 * Which projection documents of a thread a prune removes (pure). The log is never touched:
 * pruned checkpoints stay in Kafka for audits, replays and rebuilds.
 *
 * Kept, per (thread, namespace):
 * - the newest `keep` checkpoints (checkpoint-id order), and with a cut-off every checkpoint
 *   saved at or after it;
 * - every checkpoint with pending writes and no child: an interrupt waiting for a resume, or
 *   tasks that have not finished — its writes are still needed;
 * - the parent of every checkpoint kept above, with its pending writes: LangGraph's
 *   getDeltaChannelHistory starts at the parent and collects its writes, and v<4 checkpoints
 *   read pending sends from it. Beyond the parent nothing is needed: LangGraph channel
 *   versions accumulate, so the parent holds a value for every channel the child had before
 *   (a walk that stops at a pruned grandparent ends where it would have found its seed);
 * - every blob a kept checkpoint's channel_versions names, and the base chain of append deltas.
 * Removed: the other checkpoints, their pending writes, and blobs no kept checkpoint reaches
 * that are not newer than the newest checkpoint considered (a save in flight keeps its blobs).
 */
import { ThreadlogError } from '../errors.ts';
import type { ChannelVersion } from '../events/types.ts';
import { comparePos, compareCheckpointIds, type Pos } from '../projection/documents.ts';
import { ids } from '../projection/ids.ts';

export interface PruneCheckpoint {
  _id: string;
  checkpointNs: string;
  checkpointId: string;
  parentCheckpointId?: string;
  channelVersions: Record<string, ChannelVersion>;
  ts: number;
  pos: Pos;
}

export interface PruneWrite {
  _id: string;
  checkpointNs: string;
  checkpointId: string;
  channel: string;
}

export interface PruneBlob {
  _id: string;
  checkpointNs: string;
  channel: string;
  version: ChannelVersion;
  base?: ChannelVersion;
  pos: Pos;
}

export interface PruneOptions {
  keep: number;
  /** only checkpoints saved before this time (ms) may go */
  olderThan?: number;
}

export interface PrunePlan {
  keptCheckpoints: number;
  remove: { checkpoints: string[]; writes: string[]; blobs: string[] };
}

export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/.exec(s.trim());
  if (!m) throw new ThreadlogError('invalid-options', `'${s}' is not a duration: use a number and a unit, e.g. 90m, 12h, 30d, 2w`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'ms'];
  return Number(m[1]) * unit;
}

export function planPrune(threadId: string, cps: readonly PruneCheckpoint[], writes: readonly PruneWrite[], blobs: readonly PruneBlob[], o: PruneOptions): PrunePlan {
  if (!Number.isSafeInteger(o.keep) || o.keep < 1) throw new ThreadlogError('invalid-options', '--keep must be an integer >= 1');
  const key = (ns: string, id: string): string => `${ns}\u0000${id}`;
  const writesOf = new Map<string, PruneWrite[]>();
  for (const w of writes) writesOf.set(key(w.checkpointNs, w.checkpointId), [...(writesOf.get(key(w.checkpointNs, w.checkpointId)) ?? []), w]);
  const hasChild = new Set(cps.filter((c) => c.parentCheckpointId !== undefined).map((c) => key(c.checkpointNs, c.parentCheckpointId!)));
  const byNs = new Map<string, PruneCheckpoint[]>();
  for (const c of cps) byNs.set(c.checkpointNs, [...(byNs.get(c.checkpointNs) ?? []), c]);

  const kept = new Set<string>();
  for (const list of byNs.values()) {
    list.sort((a, b) => compareCheckpointIds(b.checkpointId, a.checkpointId));
    list.forEach((c, i) => {
      const k = key(c.checkpointNs, c.checkpointId);
      const pendingWrites = (writesOf.get(k)?.length ?? 0) > 0 && !hasChild.has(k);
      if (i < o.keep || (o.olderThan !== undefined && c.ts >= o.olderThan) || pendingWrites) kept.add(k);
    });
  }
  const byKey = new Map(cps.map((c) => [key(c.checkpointNs, c.checkpointId), c]));
  for (const k of [...kept]) {
    const c = byKey.get(k)!;
    if (c.parentCheckpointId !== undefined) kept.add(key(c.checkpointNs, c.parentCheckpointId));
  }

  const blobById = new Map(blobs.map((b) => [b._id, b]));
  const keepBlobs = new Set<string>();
  for (const k of kept) {
    const c = byKey.get(k);
    if (!c) continue;
    for (const [channel, version] of Object.entries(c.channelVersions)) {
      let id: string | undefined = ids.blob(threadId, c.checkpointNs, channel, version);
      // append deltas need their base chain back to a snapshot
      while (id !== undefined && !keepBlobs.has(id)) {
        keepBlobs.add(id);
        const b = blobById.get(id);
        id = b?.base === undefined ? undefined : ids.blob(threadId, c.checkpointNs, channel, b.base);
      }
    }
  }
  const newest = cps.reduce<Pos | undefined>((m, c) => (m === undefined || comparePos(c.pos, m) > 0 ? c.pos : m), undefined);
  const removedCps = cps.filter((c) => !kept.has(key(c.checkpointNs, c.checkpointId)));
  const removed = new Set(removedCps.map((c) => key(c.checkpointNs, c.checkpointId)));
  return {
    keptCheckpoints: cps.length - removedCps.length,
    remove: {
      checkpoints: removedCps.map((c) => c._id),
      writes: writes.filter((w) => removed.has(key(w.checkpointNs, w.checkpointId))).map((w) => w._id),
      blobs: newest === undefined ? [] : blobs.filter((b) => !keepBlobs.has(b._id) && comparePos(b.pos, newest) <= 0).map((b) => b._id),
    },
  };
}

