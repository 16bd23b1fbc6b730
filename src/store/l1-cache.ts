/**
 * L1: an in-process LRU bounded in bytes, for immutable things only — a checkpoint by id
 * (as an encoded cache entry) and a channel value by version. Heads are mutable and never
 * live here. A per-thread index lets deleteThread drop a thread at once without a scan.
 */
import { LRUCache } from 'lru-cache';
import type { ChannelValue, ChannelVersion } from '../events/types.ts';

/** Fixed cost per entry beside its bytes: key string, LRU node, Map slots. */
export const L1_ENTRY_OVERHEAD = 160;

type Value = { kind: 'cp'; buf: Buffer } | { kind: 'blob'; value: ChannelValue };

export interface L1Cache {
  getCheckpoint(thread: string, ns: string, checkpointId: string): Buffer | undefined;
  setCheckpoint(thread: string, ns: string, checkpointId: string, buf: Buffer): void;
  getBlob(thread: string, ns: string, channel: string, version: ChannelVersion): ChannelValue | undefined;
  setBlob(thread: string, ns: string, value: ChannelValue): void;
  dropThread(thread: string): number;
  readonly bytes: number;
  readonly entries: number;
  clear(): void;
}

// JSON arrays: injective for any strings, so hostile ids cannot make two keys collide
const cpKey = (thread: string, ns: string, id: string): string => JSON.stringify(['cp', thread, ns, id]);
const blobKey = (thread: string, ns: string, channel: string, version: ChannelVersion): string =>
  JSON.stringify(['blob', thread, ns, channel, version]);

function blobBytes(v: ChannelValue): number {
  if (v.kind === 'snapshot') return v.value.value.byteLength;
  let n = 0;
  for (const it of v.items) n += it.value.byteLength + 32;
  return n;
}

export function sizeOf(key: string, v: Value): number {
  return L1_ENTRY_OVERHEAD + key.length * 2 + (v.kind === 'cp' ? v.buf.length : blobBytes(v.value));
}

export function createL1Cache(maxBytes: number): L1Cache {
  const byThread = new Map<string, Set<string>>();
  const threadOf = new Map<string, string>();
  const enabled = maxBytes > 0;
  const lru = new LRUCache<string, Value>({
    maxSize: Math.max(1, maxBytes),
    sizeCalculation: (v, k) => sizeOf(k, v),
    dispose: (_v, key) => {
      const thread = threadOf.get(key);
      threadOf.delete(key);
      if (thread === undefined) return;
      const set = byThread.get(thread);
      set?.delete(key);
      if (set?.size === 0) byThread.delete(thread);
    },
  });

  function put(thread: string, key: string, v: Value): void {
    // an entry larger than the budget would only evict everything else
    if (!enabled || sizeOf(key, v) > maxBytes) return;
    lru.set(key, v);
    if (!lru.has(key)) return;
    threadOf.set(key, thread);
    let set = byThread.get(thread);
    if (set === undefined) byThread.set(thread, (set = new Set()));
    set.add(key);
  }

  return {
    getCheckpoint(thread, ns, id) {
      const v = lru.get(cpKey(thread, ns, id));
      return v?.kind === 'cp' ? v.buf : undefined;
    },
    setCheckpoint(thread, ns, id, buf) {
      put(thread, cpKey(thread, ns, id), { kind: 'cp', buf });
    },
    getBlob(thread, ns, channel, version) {
      const v = lru.get(blobKey(thread, ns, channel, version));
      return v?.kind === 'blob' ? v.value : undefined;
    },
    setBlob(thread, ns, value) {
      put(thread, blobKey(thread, ns, value.channel, value.version), { kind: 'blob', value });
    },
    dropThread(thread) {
      const keys = [...(byThread.get(thread) ?? [])];
      for (const k of keys) lru.delete(k);
      return keys.length;
    },
    get bytes() {
      return lru.calculatedSize;
    },
    get entries() {
      return lru.size;
    },
    clear: () => lru.clear(),
  };
}
