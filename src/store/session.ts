/**
 * What this store instance wrote, for `session` reads (read-your-writes). Per partition the
 * highest receipt offset (what a read waits for), and per thread / per (thread, ns) the
 * offset of the last event, so cached entries and Redis heads can be checked against this
 * instance's own writes. The per-thread maps are bounded; a thread that fell out of them
 * falls back to its partition's maximum, which is higher, so it errs on the safe side.
 */
import { LRUCache } from 'lru-cache';
import type { LogPosition, Receipt, ThreadlogEvent } from '../events/types.ts';

export const NONE = -1n;

export const maxOffset = (a: bigint, b: bigint): bigint => (a > b ? a : b);

export interface SessionTracker {
  recordEvent(threadId: string, receipt: Receipt, kind: ThreadlogEvent['type'], ns?: string): void;
  /** highest offset of anything this instance wrote to the thread (its partition given) */
  threadOffset(threadId: string, partition: number): bigint;
  /** highest offset of a checkpoint this instance saved to (thread, ns) */
  headOffset(threadId: string, ns: string, partition: number): bigint;
  /** position of the last thread-deleted event this instance appended or heard of */
  deletedAt(threadId: string): LogPosition | undefined;
  markDeleted(threadId: string, position: LogPosition): void;
  /** partition -> highest receipt offset */
  partitions(): Map<number, bigint>;
}

export function createSessionTracker(maxThreads = 100_000): SessionTracker {
  const byPartition = new Map<number, bigint>();
  const byThread = new LRUCache<string, bigint>({ max: maxThreads });
  const byHead = new LRUCache<string, bigint>({ max: maxThreads });
  const tombstones = new LRUCache<string, LogPosition>({ max: maxThreads });
  const floor = (p: number): bigint => byPartition.get(p) ?? NONE;
  const headKey = (t: string, ns: string): string => JSON.stringify([t, ns]);
  const raise = (m: LRUCache<string, bigint>, k: string, o: bigint): void => {
    m.set(k, maxOffset(m.get(k) ?? NONE, o));
  };
  // a thread that fell out of the bounded maps may have writes up to its partition's max
  const known = (m: LRUCache<string, bigint>, k: string, p: number, everWritten: boolean): bigint =>
    m.get(k) ?? (everWritten ? floor(p) : NONE);
  // the threads ever evicted are not tracked individually: count evictions instead
  let evicted = false;

  return {
    recordEvent(threadId, receipt, kind, ns) {
      const o = BigInt(receipt.offset);
      byPartition.set(receipt.partition, maxOffset(floor(receipt.partition), o));
      if (byThread.size >= maxThreads || byHead.size >= maxThreads) evicted = true;
      raise(byThread, threadId, o);
      if (kind === 'checkpoint' && ns !== undefined) raise(byHead, headKey(threadId, ns), o);
      if (kind === 'thread-deleted' || kind === 'thread-erased') tombstones.set(threadId, { partition: receipt.partition, offset: receipt.offset });
    },
    threadOffset: (t, p) => known(byThread, t, p, evicted),
    headOffset: (t, ns, p) => known(byHead, headKey(t, ns), p, evicted),
    deletedAt: (t) => tombstones.get(t),
    markDeleted(t, position) {
      const cur = tombstones.get(t);
      if (cur === undefined || BigInt(cur.offset) < BigInt(position.offset)) tombstones.set(t, position);
    },
    partitions: () => new Map(byPartition),
  };
}
