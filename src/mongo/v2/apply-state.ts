/**
 * What a layout-2 applier remembers of the lanes it applies (src/mongo/apply-state.ts says why
 * that is safe: a projector owns a partition's threads between rebalances, applies their events
 * in log order, and forgets everything on each rejoin and, per thread, when a batch fails):
 * each lane's head document and each thread's tombstone as last written or read, the recent
 * checkpoints (their versions and origins: the parents of the next events) and which
 * checkpoint holds which recent value (the bases of the next deltas). So a steady stream reads
 * nothing back from MongoDB before it writes.
 */
import type { ChannelVersion } from '../../events/types.ts';
import type { HeadDocV2, TombstoneDocV2 } from '../../projection/v2/documents.ts';
import type { CheckpointInfo } from '../../projection/v2/plan.ts';

export interface ApplyStateV2 {
  /** undefined: not known; null: known to have none */
  head(threadId: string, ns: string): HeadDocV2 | null | undefined;
  tombstone(threadId: string): TombstoneDocV2 | null | undefined;
  checkpoint(threadId: string, ns: string, checkpointId: string): CheckpointInfo | undefined;
  recent(threadId: string, ns: string, channel: string, version: ChannelVersion): string | undefined;
  setHead(threadId: string, ns: string, doc: HeadDocV2 | null): void;
  setTombstone(threadId: string, doc: TombstoneDocV2 | null): void;
  setCheckpoint(threadId: string, ns: string, info: CheckpointInfo): void;
  setRecent(threadId: string, ns: string, channel: string, version: ChannelVersion, checkpointId: string): void;
  /** the partition's applied-offset document exists */
  offsetKnown(topic: string, partition: number): boolean;
  setOffsetKnown(topic: string, partition: number): void;
  forget(threadIds?: Iterable<string>): void;
}

interface ThreadMemory {
  heads: Map<string, HeadDocV2 | null>;
  tomb?: TombstoneDocV2 | null;
  checkpoints: Map<string, CheckpointInfo>;
  recent: Map<string, string>;
}

/** per thread: checkpoints and values remembered (the newest; a fork's old parent is read) */
const PER_THREAD = 32;

const bounded = <V>(m: Map<string, V>, k: string, v: V, max: number): void => {
  m.delete(k);
  m.set(k, v);
  if (m.size > max) m.delete(m.keys().next().value!);
};
const key = (ns: string, rest: string): string => `${ns}\u0000${rest}`;
const valueKey = (ns: string, channel: string, version: ChannelVersion): string => key(ns, `${channel}\u0000${typeof version}:${String(version)}`);

export function createApplyStateV2(maxThreads = 50_000): ApplyStateV2 {
  const threads = new Map<string, ThreadMemory>();
  const offsets = new Set<string>();
  const mem = (t: string): ThreadMemory => {
    let m = threads.get(t);
    if (m === undefined) m = { heads: new Map(), checkpoints: new Map(), recent: new Map() };
    bounded(threads, t, m, maxThreads);
    return m;
  };
  return {
    head: (t, ns) => threads.get(t)?.heads.get(ns),
    tombstone: (t) => threads.get(t)?.tomb,
    checkpoint: (t, ns, id) => threads.get(t)?.checkpoints.get(key(ns, id)),
    recent: (t, ns, channel, version) => threads.get(t)?.recent.get(valueKey(ns, channel, version)),
    setHead: (t, ns, doc) => bounded(mem(t).heads, ns, doc, PER_THREAD),
    setTombstone: (t, doc) => void (mem(t).tomb = doc),
    setCheckpoint: (t, ns, info) => bounded(mem(t).checkpoints, key(ns, info.checkpointId), info, PER_THREAD),
    setRecent: (t, ns, channel, version, id) => bounded(mem(t).recent, valueKey(ns, channel, version), id, PER_THREAD * 4),
    offsetKnown: (topic, partition) => offsets.has(`${topic}\u0000${partition}`),
    setOffsetKnown: (topic, partition) => void offsets.add(`${topic}\u0000${partition}`),
    forget(threadIds) {
      if (threadIds === undefined) {
        threads.clear();
        offsets.clear();
        return;
      }
      for (const t of threadIds) threads.delete(t);
    },
  };
}
