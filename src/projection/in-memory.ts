/**
 * The projection held in a Map, applying `evolve` one event at a time: the reference the
 * MongoDB adapter is tested against, and a store for unit tests of code built on top.
 */
import { comparePos, type OffsetDoc, type PositionedEvent, type ProjectionDoc } from './documents.ts';
import { evolve, touchedIds, type EvolveResult } from './evolve.ts';
import { ids } from './ids.ts';

export interface MemoryProjection {
  apply(logged: PositionedEvent): EvolveResult;
  markApplied(topic: string, partition: number, offset: number): void;
  get(id: string): ProjectionDoc | undefined;
  /** every document, sorted by `_id` */
  docs(): ProjectionDoc[];
}

export function createMemoryProjection(): MemoryProjection {
  const store = new Map<string, ProjectionDoc>();
  return {
    apply(logged) {
      const current = new Map<string, ProjectionDoc>();
      for (const id of touchedIds(logged)) {
        const doc = store.get(id);
        if (doc) current.set(id, doc);
      }
      const result = evolve(logged, current);
      if (!result.applied) return result;
      if (result.deletion) {
        const { threadId, before } = result.deletion;
        for (const [id, doc] of store) {
          // deletes by the `threadId` field, not by `_id` range: a second opinion on ids.ts
          if ('threadId' in doc && doc.threadId === threadId && !id.startsWith('tomb:') && comparePos(doc.pos, before) < 0) {
            store.delete(id);
          }
        }
      }
      for (const doc of result.put) store.set(doc._id, doc);
      return result;
    },
    markApplied(topic, partition, offset) {
      const _id = ids.offset(topic, partition);
      const prev = store.get(_id) as OffsetDoc | undefined;
      if (!prev || prev.offset < offset) store.set(_id, { _id, topic, partition, offset });
    },
    get: (id) => store.get(id),
    docs: () => [...store.values()].sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0)),
  };
}
