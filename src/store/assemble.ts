/**
 * From projection documents to a cache entry, and from a cache entry to what callers get.
 * Channel values are stored once per version, some as append deltas: a checkpoint is
 * re-assembled from its `channel_versions`, walking delta chains through L1 (channel values
 * by version never change) before asking MongoDB.
 */
import type { Checkpoint } from '@langchain/langgraph-checkpoint';
import { ThreadlogError, isThreadlogError } from '../errors.ts';
import { collectDeltaChain, resolveChannelBytes, resolveChannelValue } from '../events/deltas.ts';
import { sealedWithoutKey, type EventCodec } from '../events/codec.ts';
import type { ChannelValue, ChannelVersion, TypedValue } from '../events/types.ts';
import type { ProjectionStore } from '../mongo/projection-store.ts';
import type { CheckpointRecord, WriteRecord } from '../mongo/records.ts';
import type { CacheEntry, EntryWrite } from './entry.ts';
import type { L1Cache } from './l1-cache.ts';
import type { StoredCheckpoint } from './types.ts';

/** what an entry is built from: a projected checkpoint record or an own write */
export type EntrySource = Pick<CheckpointRecord, 'threadId' | 'checkpointNs' | 'checkpointId' | 'parentCheckpointId' | 'checkpoint' | 'metadata' | 'position'>;

export interface Assembler {
  /**
   * The entry of a projected checkpoint; `asOf`: an offset the projection is known to reflect.
   * `pending`: its pending writes when already read (with others of a listed page).
   */
  assemble(rec: CheckpointRecord, asOf: bigint, pending?: readonly WriteRecord[]): Promise<CacheEntry>;
  /**
   * An entry from what this instance wrote (not projected yet, perhaps): the channel values
   * the projection would assemble, but a versioned channel without a stored value is only
   * empty when `isEmpty` says so. Otherwise the value may simply not be projected yet, and
   * so may a broken delta chain's base: undefined then, and the caller waits for the projection.
   */
  assembleKnown(rec: EntrySource, writes: EntryWrite[], isEmpty: (channel: string, version: ChannelVersion) => boolean): Promise<CacheEntry | undefined>;
  /** an entry from channel values already whole (the write-through record's own head) */
  known(rec: EntrySource, values: Array<[string, TypedValue]>, writes: EntryWrite[]): CacheEntry;
  /** the same entry with its pending writes re-read */
  refreshWrites(entry: CacheEntry, asOf: bigint): Promise<CacheEntry>;
  toStored(entry: CacheEntry): Promise<StoredCheckpoint>;
}

export function createAssembler(projection: ProjectionStore, l1: L1Cache, codec: EventCodec): Assembler {
  const serializer = codec.options.serializer;

  /** `wanted`: channel, version and (layout 2) the checkpoint holding it */
  async function blobs(thread: string, ns: string, wanted: ReadonlyArray<readonly [string, ChannelVersion, string?]>): Promise<Map<string, ChannelValue>> {
    const found = new Map<string, ChannelValue>();
    const missing: Array<readonly [string, ChannelVersion, string?]> = [];
    for (const w of wanted) {
      const v = l1.getBlob(thread, ns, w[0], w[1]);
      if (v === undefined) missing.push(w);
      else found.set(w[0], v);
    }
    if (missing.length > 0) {
      for (const v of await projection.getBlobs(thread, ns, missing)) {
        l1.setBlob(thread, ns, v);
        found.set(v.channel, v);
      }
    }
    return found;
  }

  async function resolve(thread: string, ns: string, head: ChannelValue): Promise<TypedValue> {
    if (head.kind === 'snapshot') return head.value;
    const lookup = async (version: ChannelVersion, baseCheckpoint?: string): Promise<ChannelValue | undefined> =>
      (await blobs(thread, ns, [[head.channel, version, baseCheckpoint]])).get(head.channel);
    const chain = await collectDeltaChain(head, lookup);
    // an entry must stand on its own: the whole list, as bytes when they can be joined as
    // they are (JSON), else deserialized and serialized again
    return resolveChannelBytes(chain) ?? codec.serialize(await resolveChannelValue(chain, serializer));
  }

  async function writes(rec: { threadId: string; checkpointNs: string; checkpointId: string }, read?: readonly WriteRecord[]): Promise<EntryWrite[]> {
    const ws = read ? [...read] : await projection.getWrites(rec.threadId, rec.checkpointNs, rec.checkpointId);
    // LangGraph's order: task path, task id, then idx
    ws.sort((a, b) => cmp(a.taskPath, b.taskPath) || cmp(a.taskId, b.taskId) || a.idx - b.idx);
    return ws.map((w) => ({ taskId: w.taskId, channel: w.channel, value: w.value }));
  }

  /** resolved values of the versioned channels that have one; `found`: their stored heads */
  async function values(rec: EntrySource, found: Map<string, ChannelValue>): Promise<Array<[string, TypedValue]>> {
    const out: Array<[string, TypedValue]> = [];
    for (const channel of Object.keys(rec.checkpoint.channel_versions)) {
      const head = found.get(channel);
      // no stored value for a versioned channel: LangGraph's empty channel
      if (head !== undefined) out.push([channel, await resolve(rec.threadId, rec.checkpointNs, head)]);
    }
    return out;
  }

  function entry(rec: EntrySource, vals: Array<[string, TypedValue]>, pending: EntryWrite[], asOf: bigint): CacheEntry {
    // still sealed: this store has no key to open it with (an encrypting store opens records as it reads them)
    if ((rec as { sealed?: unknown }).sealed !== undefined) throw sealedWithoutKey();
    return {
      threadId: rec.threadId,
      checkpointNs: rec.checkpointNs,
      checkpointId: rec.checkpointId,
      parentCheckpointId: rec.parentCheckpointId,
      header: rec.checkpoint,
      metadata: rec.metadata,
      position: rec.position,
      values: vals,
      writes: pending,
      writesAsOf: String(asOf),
    };
  }

  /**
   * What to read for a projected record. Layout 2 names, per channel, the checkpoint holding
   * its value (a versioned channel it does not name is empty); a channel it could not locate
   * fails the read rather than reading as empty.
   */
  function wantedOf(rec: CheckpointRecord): Array<readonly [string, ChannelVersion, string?]> {
    const versions = Object.entries(rec.checkpoint.channel_versions);
    if (rec.origins === undefined) return versions;
    const unresolved = rec.unresolved?.find((c) => c in rec.checkpoint.channel_versions);
    if (unresolved !== undefined) {
      throw new ThreadlogError('broken-delta-chain', `checkpoint ${rec.checkpointId}: the value of channel "${unresolved}" cannot be located (its parent checkpoint was not in the projection when it was projected)`, {
        details: { checkpointId: rec.checkpointId, channel: unresolved },
      });
    }
    const origins = rec.origins;
    return versions.flatMap(([c, v]) => (origins[c] === undefined ? [] : [[c, v, origins[c]] as const]));
  }

  return {
    async assemble(rec, asOf, read) {
      const wanted = wantedOf(rec);
      const [found, pending] = await Promise.all([blobs(rec.threadId, rec.checkpointNs, wanted), writes(rec, read)]);
      // layout 2 names where each value is: one that is not there is an error, never an empty channel
      const lost = wanted.find((w) => w[2] !== undefined && !found.has(w[0]));
      if (lost !== undefined) {
        throw new ThreadlogError('broken-delta-chain', `checkpoint ${rec.checkpointId}: the value of channel "${lost[0]}" (version ${String(lost[1])}) is not in checkpoint ${lost[2]!}, which should hold it (removed from the projection by hand? rebuild the generation: threadlog rebuild)`, {
          details: { checkpointId: rec.checkpointId, channel: lost[0], version: lost[1], origin: lost[2] },
        });
      }
      return entry(rec, await values(rec, found), pending, asOf);
    },

    async assembleKnown(rec, pending, isEmpty) {
      const wanted = Object.entries(rec.checkpoint.channel_versions).filter(([c, v]) => !isEmpty(c, v));
      const found = await blobs(rec.threadId, rec.checkpointNs, wanted);
      if (found.size < wanted.length) return undefined;
      try {
        // writesAsOf: none of the projection's writes are in this entry
        return entry(rec, await values(rec, found), pending, -1n);
      } catch (e) {
        if (isThreadlogError(e, 'broken-delta-chain')) return undefined;
        throw e;
      }
    },

    known(rec, vals, pending) {
      // writesAsOf: none of the projection's writes are in this entry
      return entry(rec, vals, pending, -1n);
    },

    async refreshWrites(entry, asOf) {
      return { ...entry, writes: await writes(entry), writesAsOf: String(asOf) };
    },

    async toStored(e) {
      const channelValues: Record<string, unknown> = {};
      for (const [channel, tv] of e.values) channelValues[channel] = await codec.deserialize(tv);
      const pendingWrites = await Promise.all(e.writes.map(async (w) => ({ taskId: w.taskId, channel: w.channel, value: await codec.deserialize(w.value) })));
      const checkpoint = { ...e.header, channel_values: channelValues } as unknown as Checkpoint;
      return {
        threadId: e.threadId,
        checkpointNs: e.checkpointNs,
        checkpointId: e.checkpointId,
        parentCheckpointId: e.parentCheckpointId,
        checkpoint,
        metadata: e.metadata as StoredCheckpoint['metadata'],
        pendingWrites,
        position: { ...e.position },
      };
    },
  };
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
