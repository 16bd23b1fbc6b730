/**
 * What an applier has learnt of the threads it applies: each thread's tombstone (or that it
 * has none) and hash-chain head, as of the last batch it applied. A projector owns a
 * partition's threads between rebalances and applies their events in log order, so after the
 * first batch of a thread it no longer needs to read them back from MongoDB before every batch
 * (on FerretDB each such read is a lookup per thread, or a scan with `$in`). Both are functions
 * of the log prefix, so another projector applying the same events computes the same values:
 * an entry can only be behind the stored state, and only while another applier works the same
 * partition at once (a rebalance overlap). For chains that is harmless (the links computed from
 * an older head are the same links); for a tombstone it is the race a batch already has between
 * reading tombstones and writing, and the deleting member, or the next owner replaying from the
 * committed offset, deletes again. The projector forgets everything on each rejoin.
 * Forgotten wholesale when the projector rejoins its group, and per thread when a batch fails
 * (its writes may be partly done).
 */
import type { ChainDoc } from '../projection/chain.ts';
import type { Pos } from '../projection/documents.ts';

export interface ApplyState {
  /** undefined: not known; null: known to have none */
  tombstone(threadId: string): Pos | null | undefined;
  chain(threadId: string): ChainDoc | null | undefined;
  setTombstone(threadId: string, pos: Pos | null): void;
  setChain(threadId: string, doc: ChainDoc | null): void;
  /**
   * Documents of a thread (or of no thread: `''`, e.g. applied offsets) known to exist because
   * this applier wrote them: a newer version then replaces them under its guard, without the
   * insert-if-absent upsert beside it (one lookup less per head on FerretDB).
   */
  exists(threadId: string, id: string): boolean;
  setExists(threadId: string, id: string): void;
  /** the thread's documents were deleted: none is known to exist */
  forgetExists(threadId: string): void;
  forget(threadIds?: Iterable<string>): void;
  readonly size: number;
}

export const defaultApplyStateMaxThreads = 100_000;

export function createApplyState(maxThreads = defaultApplyStateMaxThreads): ApplyState {
  const tombs = new Map<string, Pos | null>();
  const chains = new Map<string, ChainDoc | null>();
  const docs = new Map<string, Set<string>>();
  // insertion order approximates recency well enough: an evicted thread is only read again
  const bound = <V>(m: Map<string, V>, k: string, v: V): void => {
    m.delete(k);
    m.set(k, v);
    if (m.size > maxThreads) m.delete(m.keys().next().value!);
  };
  return {
    tombstone: (t) => tombs.get(t),
    chain: (t) => chains.get(t),
    setTombstone: (t, pos) => bound(tombs, t, pos),
    setChain: (t, doc) => bound(chains, t, doc),
    exists: (t, id) => docs.get(t)?.has(id) ?? false,
    setExists(t, id) {
      const set = docs.get(t) ?? new Set<string>();
      set.add(id);
      bound(docs, t, set);
    },
    forgetExists: (t) => void docs.delete(t),
    forget(threadIds) {
      if (threadIds === undefined) {
        tombs.clear();
        chains.clear();
        docs.clear();
        return;
      }
      for (const t of threadIds) {
        tombs.delete(t);
        chains.delete(t);
        docs.delete(t);
      }
    },
    get size() {
      return Math.max(tombs.size, chains.size);
    },
  };
}
