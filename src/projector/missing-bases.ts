/**
 * A delta whose base never reached the log can never be read (issue: a failed append that
 * became a base). The writer makes that impossible for threadlog's own SDK; a producer in
 * another language, an old client or a bug could still write one, so the projector looks at
 * every append it projects: its base must be earlier in the same batch or already projected.
 * What it cannot find is reported (metric, log line, a `broken` document that `health()`
 * and the audit read) the moment it arrives, not when someone reads the thread months later.
 *
 * Pure planning here; the projector asks the projection only about the bases it does not
 * remember having projected (recent versions per thread, bounded), so a healthy stream
 * costs no extra reads.
 */
import { isThreadEnd, type ChannelVersion } from '../events/types.ts';
import type { PositionedEvent } from '../projection/documents.ts';

export interface BaseRef {
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  channel: string;
  /** the delta's version, and the version it appends to */
  version: ChannelVersion;
  base: ChannelVersion;
  /** index of the event in the batch */
  event: number;
}

export interface KnownVersions {
  has(threadId: string, ns: string, channel: string, version: ChannelVersion): boolean;
  add(threadId: string, ns: string, channel: string, version: ChannelVersion): void;
  dropThread(threadId: string): void;
  clear(): void;
}

const key = (ns: string, channel: string, version: ChannelVersion): string => JSON.stringify([ns, channel, typeof version, version]);

/** Versions recently projected, per thread: at most `maxThreads` threads, `perThread` versions each. */
export function createKnownVersions(maxThreads = 20_000, perThread = 64): KnownVersions {
  // Map order is recency order (touched threads move to the end)
  const threads = new Map<string, Set<string>>();
  return {
    has(threadId, ns, channel, version) {
      return threads.get(threadId)?.has(key(ns, channel, version)) ?? false;
    },
    add(threadId, ns, channel, version) {
      let set = threads.get(threadId);
      if (set === undefined) set = new Set();
      else threads.delete(threadId);
      threads.set(threadId, set);
      const k = key(ns, channel, version);
      set.delete(k);
      set.add(k);
      if (set.size > perThread) set.delete(set.values().next().value!);
      if (threads.size > maxThreads) threads.delete(threads.keys().next().value!);
    },
    dropThread: (threadId) => void threads.delete(threadId),
    clear: () => threads.clear(),
  };
}

/**
 * The appends of a batch whose base is neither earlier in the batch nor known to be projected:
 * the ones to look up. A delete in the batch hides everything of its thread before it, so
 * after one only bases later in the batch count. `known` is not changed.
 */
export function unresolvedBases(events: readonly PositionedEvent[], known: KnownVersions): BaseRef[] {
  const inBatch = new Map<string, Set<string>>();
  const deleted = new Set<string>();
  const out: BaseRef[] = [];
  events.forEach(({ event }, i) => {
    if (isThreadEnd(event)) {
      deleted.add(event.threadId);
      inBatch.delete(event.threadId);
      return;
    }
    if (event.type !== 'checkpoint') return;
    let mine = inBatch.get(event.threadId);
    if (mine === undefined) inBatch.set(event.threadId, (mine = new Set()));
    for (const cv of event.values) {
      if (cv.kind === 'append') {
        const found = mine.has(key(event.checkpointNs, cv.channel, cv.base)) || (!deleted.has(event.threadId) && known.has(event.threadId, event.checkpointNs, cv.channel, cv.base));
        if (!found) {
          out.push({ threadId: event.threadId, checkpointNs: event.checkpointNs, checkpointId: event.checkpointId, channel: cv.channel, version: cv.version, base: cv.base, event: i });
        }
      }
      mine.add(key(event.checkpointNs, cv.channel, cv.version));
    }
  });
  return out;
}

/** After a batch is applied: what the projection now holds, for the next batches. */
export function rememberProjected(events: readonly PositionedEvent[], known: KnownVersions): void {
  for (const { event } of events) {
    if (isThreadEnd(event)) known.dropThread(event.threadId);
    else if (event.type === 'checkpoint') for (const cv of event.values) known.add(event.threadId, event.checkpointNs, cv.channel, cv.version);
  }
}

/** Refs grouped per (thread, ns), each with the distinct (channel, base) pairs to look up. */
export function lookupGroups(refs: readonly BaseRef[]): Array<{ threadId: string; checkpointNs: string; versions: Array<[string, ChannelVersion]> }> {
  const groups = new Map<string, { threadId: string; checkpointNs: string; versions: Map<string, [string, ChannelVersion]> }>();
  for (const r of refs) {
    const g = JSON.stringify([r.threadId, r.checkpointNs]);
    let group = groups.get(g);
    if (group === undefined) groups.set(g, (group = { threadId: r.threadId, checkpointNs: r.checkpointNs, versions: new Map() }));
    group.versions.set(key('', r.channel, r.base), [r.channel, r.base]);
  }
  return [...groups.values()].map((g) => ({ threadId: g.threadId, checkpointNs: g.checkpointNs, versions: [...g.versions.values()] }));
}

export const versionKey = key;
