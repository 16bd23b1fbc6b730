/**
 * Documents by a list of `_id`s. MongoDB serves `{_id: {$in: [...]}}` from its `_id` index in
 * one round trip. FerretDB 1.x pushes only a plain `{_id: value}` filter down to its storage
 * and runs `$in` as a scan of the whole collection in its own process (infra/README.md), so
 * there the ids are looked up one by one, in parallel, each an indexed lookup.
 */
import type { Collection, Document, Filter } from 'mongodb';

type IdDoc = Document & { _id: string };

export type LookupMode = 'in' | 'each';

export type IdLookup = <T extends IdDoc>(col: Collection<T>, ids: readonly string[]) => Promise<T[]>;

/** At most this many single-id finds of one lookup in flight (a pool is shared with the rest). */
const EACH_CONCURRENCY = 16;

export function idLookup(mode: LookupMode): IdLookup {
  if (mode === 'in') {
    return async <T extends IdDoc>(col: Collection<T>, ids: readonly string[]): Promise<T[]> =>
      ids.length === 0 ? [] : ((await col.find({ _id: { $in: [...ids] } } as Filter<T>).toArray()) as T[]);
  }
  return async <T extends IdDoc>(col: Collection<T>, ids: readonly string[]): Promise<T[]> => {
    const out: T[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(EACH_CONCURRENCY, ids.length) }, async () => {
        while (next < ids.length) {
          const doc = await col.findOne({ _id: ids[next++]! } as Filter<T>);
          if (doc) out.push(doc as T);
        }
      }),
    );
    return out;
  };
}
