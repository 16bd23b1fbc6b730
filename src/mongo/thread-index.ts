/**
 * The viewer's thread list (`threadlog ui`): the most recent threads and a thread-id prefix
 * search. The store's API lists checkpoints, not threads, so this is the one query of the
 * viewer against the projection itself; it lives in this one file so a new projection layout
 * ports it in one place. It reads only `<generation>_heads` (one document per thread and
 * namespace: a copy of the newest checkpoint's header, with `ts` and `pos`):
 *
 * - recent: heads of the root namespace (`checkpointNs: ''`), newest `ts` first, paged by
 *   (`ts`, `_id`). On MongoDB this is served by THREAD_INDEX `{ checkpointNs: 1, ts: -1, _id: 1 }`,
 *   which ensureThreadIndex() creates (FerretDB scans the heads either way, as it does for
 *   every secondary index). A thread written only under a subgraph namespace has no root head
 *   and shows only in a prefix search.
 * - prefix: an `_id` range over `head:<escaped prefix>`, thread-id order, served by the `_id`
 *   index everywhere; a thread's heads are adjacent (its `_id`s share `head:<thread>:`).
 * Layout 2 (projection/v2) keeps the newest checkpoint under `head` (absent while a lane has
 * only writes or its thread was deleted), so the same queries read `head.ts`; its index is
 * THREAD_INDEX_V2.
 */
import type { Db, Document, Filter } from 'mongodb';
import { ThreadlogError } from '../errors.ts';
import { encodeIdPart, idRange } from '../projection/ids.ts';
import type { IdDoc } from './apply.ts';
import { mongoCall } from './errors.ts';
import { toCheckpointRecord, type CheckpointRecord } from './records.ts';

export const THREAD_INDEX = { key: { checkpointNs: 1, ts: -1, _id: 1 }, name: 'recent_threads' } as const;
export const THREAD_INDEX_V2 = { key: { checkpointNs: 1, 'head.ts': -1, _id: 1 }, name: 'recent_threads' } as const;

/** the head document's checkpoint record, in either layout; undefined: a layout-2 lane without one */
function headOf(d: IdDoc, layout: 1 | 2): CheckpointRecord | undefined {
  if (layout === 1) return toCheckpointRecord(d);
  return d.head === undefined ? undefined : toCheckpointRecord(d.head as Document);
}

export interface ThreadHead {
  threadId: string;
  /** the root namespace's head (or, in a prefix search of a thread without one, its first namespace's) */
  head: CheckpointRecord;
  /** namespaces with a head (prefix search only: recent lists read root heads) */
  namespaces?: string[];
}

export interface ThreadPage {
  threads: ThreadHead[];
  /** opaque; pass back as `cursor` for the next page; absent on the last page */
  next?: string;
}

export interface ThreadQuery {
  /** thread-id prefix; omitted: the most recent threads */
  prefix?: string;
  limit: number;
  cursor?: string;
}

function recentCursor(cursor: string): [number, string] {
  let v: unknown;
  try {
    v = JSON.parse(cursor);
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'number' || typeof v[1] !== 'string') {
    throw new ThreadlogError('invalid-options', 'not a cursor of the recent threads list: pass back the `next` value of the previous page');
  }
  return [v[0], v[1]];
}

/** A trailing high surrogate is encoded alone but kept in a pair by the full id: drop it from the range. */
const rangePrefix = (prefix: string): string => encodeIdPart(/[\ud800-\udbff]$/.test(prefix) ? prefix.slice(0, -1) : prefix);

export async function listThreads(db: Db, generation: string, q: ThreadQuery, layout: 1 | 2 = 1): Promise<ThreadPage> {
  const heads = db.collection<IdDoc>(`${generation}_heads`);
  const tsField = layout === 1 ? 'ts' : 'head.ts';
  if (q.prefix === undefined) {
    const filter: Filter<IdDoc> = { checkpointNs: '', ...(layout === 2 ? { head: { $exists: true } } : {}) };
    if (q.cursor !== undefined) {
      const [ts, id] = recentCursor(q.cursor);
      filter.$or = [{ [tsField]: { $lt: ts } }, { [tsField]: ts, _id: { $gt: id } }];
    }
    const docs = await mongoCall('listing recent threads', () => heads.find(filter).sort({ [tsField]: -1, _id: 1 }).limit(q.limit + 1).toArray());
    const page = docs.slice(0, q.limit).map((d) => ({ threadId: d.threadId as string, head: headOf(d, layout)! }));
    const last = docs[q.limit - 1];
    return { threads: page, ...(docs.length > q.limit && last ? { next: JSON.stringify([headOf(last, layout)!.ts, last._id]) } : {}) };
  }
  const start = `head:${rangePrefix(q.prefix)}`;
  const from = q.cursor !== undefined && q.cursor > start ? q.cursor : start;
  const filter = { _id: { [from === start ? '$gte' : '$gt']: from, $lt: `${start}\u{10FFFF}` } };
  const threads: ThreadHead[] = [];
  let scanned = 0;
  // a thread's heads are adjacent; read a little more than asked so most threads arrive whole
  const docs = await mongoCall('searching threads', () => heads.find(filter).sort({ _id: 1 }).limit(q.limit * 4 + 1).toArray());
  for (const d of docs) {
    const threadId = d.threadId as string;
    const head = headOf(d, layout);
    if (head === undefined) {
      scanned += 1;
      continue;
    }
    const cur = threads.at(-1);
    if (cur?.threadId === threadId) {
      cur.namespaces!.push(d.checkpointNs as string);
    } else {
      if (threads.length === q.limit) break;
      // the search is by escaped `_id`; a thread id must really start with the prefix
      if (threadId.startsWith(q.prefix)) threads.push({ threadId, head, namespaces: [d.checkpointNs as string] });
    }
    scanned += 1;
  }
  const lastThread = threads.at(-1)?.threadId;
  const more = scanned < docs.length || docs.length === q.limit * 4 + 1;
  // the next page starts after the last thread's whole `_id` range
  return { threads, ...(more && lastThread !== undefined ? { next: idRange('head', lastThread).$lt } : {}) };
}

/**
 * Creates THREAD_INDEX on MongoDB (skipped on FerretDB, whose SQLite/PostgreSQL backends would
 * maintain but not use it). Returns what it did; a read-only user gets 'failed' and the list
 * still works, as a scan.
 */
export async function ensureThreadIndex(db: Db, generation: string, layout: 1 | 2 = 1): Promise<'created' | 'skipped' | 'failed'> {
  try {
    const info: Document = await db.admin().command({ buildInfo: 1 });
    if (typeof info.ferretdbVersion === 'string') return 'skipped';
    const index = layout === 1 ? THREAD_INDEX : THREAD_INDEX_V2;
    await db.collection(`${generation}_heads`).createIndex(index.key, { name: index.name });
    return 'created';
  } catch {
    return 'failed';
  }
}
