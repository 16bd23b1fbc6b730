/**
 * Append deltas for list channels. A LangGraph `messages` channel grows by a message or two
 * per step; writing the whole list at every step makes a thread's log quadratic in its
 * length. So a list that only grew since the version this process last wrote is carried as
 * the new elements plus a link to that version, with a full snapshot every `snapshotEvery`
 * versions so a read never walks a long chain.
 *
 * Correctness over cleverness: "only grew" is decided on the serialized bytes of every
 * prior element, because LangGraph state objects can be mutated in place and a reference
 * comparison would then write a delta that reads back as a different list. With a JSON
 * serializer (LangGraph's default) the list is serialized once and compared with the bytes
 * of the version before as a prefix (json-list.ts); other serializers go element by element.
 */
import type { SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { JsonPlusSerializer } from '@langchain/langgraph-checkpoint';
import { ThreadlogError } from '../errors.ts';
import type { ChannelValue, ChannelVersion, TypedValue } from './types.ts';
import { serializeValue } from './validate.ts';
import { appendedElements, concatJsonArray, countJsonElements, isJsonArray } from './json-list.ts';

export interface DeltaEncoderOptions {
  serializer: SerializerProtocol;
  /** at most this many versions per chain: a snapshot, then snapshotEvery - 1 appends */
  snapshotEvery: number;
  /** memory for remembered list elements across all threads, LRU-evicted */
  maxTrackedBytes: number;
}

export const defaultDeltaEncoderOptions: DeltaEncoderOptions = {
  serializer: new JsonPlusSerializer(),
  snapshotEvery: 16,
  maxTrackedBytes: 64 * 1024 * 1024,
};

export interface DeltaEncoder {
  /**
   * The ChannelValue to put in a checkpoint event for one new channel version.
   * `previousVersion` is the channel's version in the parent checkpoint when the caller
   * knows it (null: the channel is new there); if it is not the version this encoder last
   * wrote, someone else wrote in between and a snapshot is emitted.
   */
  encode(
    threadId: string,
    checkpointNs: string,
    channel: string,
    version: ChannelVersion,
    value: unknown,
    previousVersion?: ChannelVersion | null,
  ): Promise<ChannelValue>;
  /** drop what is remembered of a thread (deleted, or written elsewhere from now on) */
  forget(threadId: string): void;
  readonly trackedBytes: number;
}

interface Tracked {
  threadId: string;
  version: ChannelVersion;
  depth: number;
  /** each element's serialization (serializers that are not JSON) */
  items?: TypedValue[];
  /** the whole list as one JSON array, and its length (JSON serializers) */
  json?: { bytes: Uint8Array; count: number };
  bytes: number;
}

const PER_ITEM_OVERHEAD = 64;
const PER_ENTRY_OVERHEAD = 256;

function sameBytes(a: TypedValue, b: TypedValue): boolean {
  return a.type === b.type && Buffer.from(a.value.buffer, a.value.byteOffset, a.value.byteLength).equals(b.value);
}

export function createDeltaEncoder(options: Partial<DeltaEncoderOptions> = {}): DeltaEncoder {
  const o = { ...defaultDeltaEncoderOptions, ...options };
  if (!Number.isSafeInteger(o.snapshotEvery) || o.snapshotEvery < 1) {
    throw new ThreadlogError('invalid-options', 'snapshotEvery must be an integer >= 1');
  }
  if (!(o.maxTrackedBytes >= 0)) throw new ThreadlogError('invalid-options', 'maxTrackedBytes must be >= 0');
  // Map order is recency order: a touched entry is deleted and re-inserted at the end
  const tracked = new Map<string, Tracked>();
  const byThread = new Map<string, Set<string>>();
  let trackedBytes = 0;

  function drop(key: string): void {
    const t = tracked.get(key);
    if (t === undefined) return;
    tracked.delete(key);
    trackedBytes -= t.bytes;
    const keys = byThread.get(t.threadId);
    keys?.delete(key);
    if (keys?.size === 0) byThread.delete(t.threadId);
  }

  function remember(key: string, t: Tracked): void {
    drop(key);
    if (t.bytes > o.maxTrackedBytes) return;
    tracked.set(key, t);
    trackedBytes += t.bytes;
    let keys = byThread.get(t.threadId);
    if (keys === undefined) byThread.set(t.threadId, (keys = new Set()));
    keys.add(key);
    for (const oldest of tracked.keys()) {
      if (trackedBytes <= o.maxTrackedBytes) break;
      drop(oldest);
    }
  }

  async function encode(
    threadId: string,
    checkpointNs: string,
    channel: string,
    version: ChannelVersion,
    value: unknown,
    previousVersion?: ChannelVersion | null,
  ): Promise<ChannelValue> {
    const key = JSON.stringify([threadId, checkpointNs, channel]);
    const prev = tracked.get(key);
    const snapshot = async (): Promise<ChannelValue> => ({
      kind: 'snapshot',
      channel,
      version,
      value: await serializeValue(o.serializer, value, `channel "${channel}"`),
    });
    if (!Array.isArray(value)) {
      drop(key);
      return snapshot();
    }
    const chainable = (p: Tracked | undefined): p is Tracked =>
      p !== undefined && p.version !== version && (previousVersion === undefined || previousVersion === p.version) && p.depth + 1 < o.snapshotEvery;
    const append = (p: Tracked, baseLength: number, items: TypedValue[]): ChannelValue => ({
      kind: 'append',
      channel,
      version,
      base: p.version,
      depth: p.depth + 1,
      baseLength,
      items,
    });
    // two concurrent saves of one channel: neither knows which the log will order last,
    // so remember nothing and let the next save write a snapshot
    const keep = (t: Omit<Tracked, 'bytes' | 'threadId'>, dataBytes: number): void => {
      if (tracked.get(key) !== prev) drop(key);
      else remember(key, { ...t, threadId, bytes: PER_ENTRY_OVERHEAD + key.length * 2 + dataBytes });
    };

    const whole = await serializeValue(o.serializer, value, `channel "${channel}"`);
    if (whole.type === 'json' && isJsonArray(whole.value)) {
      const base = chainable(prev) && prev.json !== undefined && value.length >= prev.json.count ? prev.json : undefined;
      const added = base && appendedElements(base.bytes, base.count, whole.value);
      const canAppend = added !== undefined && added.length === value.length - base!.count;
      const result: ChannelValue = canAppend
        ? append(prev!, base!.count, added.map((v) => ({ type: 'json', value: v })))
        : { kind: 'snapshot', channel, version, value: whole };
      keep({ version, depth: canAppend ? prev!.depth + 1 : 0, json: { bytes: whole.value, count: value.length } }, whole.value.byteLength);
      return result;
    }

    const items = await Promise.all(value.map((v, i) => serializeValue(o.serializer, v, `channel "${channel}"[${i}]`)));
    const canAppend =
      chainable(prev) &&
      prev.items !== undefined &&
      items.length >= prev.items.length &&
      prev.items.every((p, i) => sameBytes(p, items[i]!));
    const result: ChannelValue = canAppend ? append(prev!, prev!.items!.length, items.slice(prev!.items!.length)) : await snapshot();
    let bytes = 0;
    for (const it of items) bytes += it.value.byteLength + PER_ITEM_OVERHEAD;
    keep({ version, depth: canAppend ? prev!.depth + 1 : 0, items }, bytes);
    return result;
  }

  return {
    encode,
    forget(threadId) {
      for (const key of [...(byThread.get(threadId) ?? [])]) drop(key);
    },
    get trackedBytes() {
      return trackedBytes;
    },
  };
}

function broken(message: string, details?: Record<string, unknown>): ThreadlogError {
  return new ThreadlogError('broken-delta-chain', message, details === undefined ? {} : { details });
}

async function load(serializer: SerializerProtocol, tv: TypedValue): Promise<unknown> {
  try {
    return await serializer.loadsTyped(tv.type, tv.value);
  } catch (cause) {
    throw new ThreadlogError('corrupt-event', `a stored "${tv.type}" value does not deserialize`, { cause });
  }
}

/**
 * The value of the last element of `chain`: a snapshot followed by the appends that build
 * on it, in order. Any gap, foreign link or base of the wrong length is an error, never a
 * partial list.
 */
export async function resolveChannelValue(chain: readonly ChannelValue[], serializer: SerializerProtocol): Promise<unknown> {
  const first = chain[0];
  if (first === undefined) throw broken('empty delta chain');
  if (first.kind !== 'snapshot') throw broken(`delta chain of "${first.channel}" does not start with a snapshot`);
  const value = await load(serializer, first.value);
  if (chain.length === 1) return value;
  if (!Array.isArray(value)) throw broken(`channel "${first.channel}" version ${first.version} is not a list but has appends`);
  const list: unknown[] = value;
  for (let i = 1; i < chain.length; i++) {
    const cv = chain[i]!;
    const prev = chain[i - 1]!;
    if (cv.kind !== 'append' || cv.base !== prev.version || cv.channel !== first.channel) {
      throw broken(`delta chain of "${first.channel}" is not linked at version ${cv.version}`, { version: cv.version });
    }
    if (cv.baseLength !== undefined && cv.baseLength !== list.length) {
      throw broken(`channel "${cv.channel}" version ${cv.version} extends ${cv.baseLength} elements, its base has ${list.length}`);
    }
    for (const item of cv.items) list.push(await load(serializer, item));
  }
  return list;
}

/** Finds a stored version of the same (thread, namespace, channel). */
export type ChannelValueLookup = (version: ChannelVersion) => Promise<ChannelValue | undefined>;

export interface DeltaChainOptions {
  /** guards against cycles and runaway chains from a foreign or buggy writer */
  maxDepth: number;
}

/** Walks base links from `head` back to a snapshot; returns the chain snapshot-first. */
export async function collectDeltaChain(
  head: ChannelValue,
  lookup: ChannelValueLookup,
  options: DeltaChainOptions = { maxDepth: 1024 },
): Promise<ChannelValue[]> {
  const chain = [head];
  let cur = head;
  while (cur.kind === 'append') {
    if (chain.length > options.maxDepth) throw broken(`delta chain of "${head.channel}" is longer than ${options.maxDepth}`);
    const base = await lookup(cur.base);
    if (base === undefined) {
      throw broken(`channel "${cur.channel}" version ${cur.version} appends to version ${cur.base}, which is missing`, {
        channel: cur.channel,
        version: cur.version,
        base: cur.base,
      });
    }
    if (base.version !== cur.base || base.channel !== cur.channel) {
      throw broken(`lookup for version ${cur.base} of "${cur.channel}" returned another value`);
    }
    chain.push(base);
    cur = base;
  }
  return chain.reverse();
}

// element counts of snapshot bytes already counted: a cached snapshot is read at every step
const snapshotCounts = new WeakMap<Uint8Array, number | undefined>();
function snapshotCount(bytes: Uint8Array): number | undefined {
  if (!snapshotCounts.has(bytes)) snapshotCounts.set(bytes, countJsonElements(bytes));
  return snapshotCounts.get(bytes);
}

/**
 * The value of a chain as serialized bytes without deserializing it, when every part is a
 * JSON array or JSON element (json-list.ts); undefined otherwise (use resolveChannelValue).
 * Checks the same links and lengths resolveChannelValue checks.
 */
export function resolveChannelBytes(chain: readonly ChannelValue[]): TypedValue | undefined {
  const first = chain[0];
  if (first === undefined || first.kind !== 'snapshot' || first.value.type !== 'json') return undefined;
  if (chain.length === 1) return first.value;
  if (chain.some((cv) => cv.kind === 'append' && cv.items.some((it) => it.type !== 'json'))) return undefined;
  const baseCount = snapshotCount(first.value.value);
  if (baseCount === undefined) return undefined;
  let count = baseCount;
  const items: Uint8Array[] = [];
  for (let i = 1; i < chain.length; i++) {
    const cv = chain[i]!;
    const prev = chain[i - 1]!;
    if (cv.kind !== 'append' || cv.base !== prev.version || cv.channel !== first.channel) {
      throw broken(`delta chain of "${first.channel}" is not linked at version ${cv.version}`, { version: cv.version });
    }
    if (cv.baseLength !== undefined && cv.baseLength !== count) {
      throw broken(`channel "${cv.channel}" version ${cv.version} extends ${cv.baseLength} elements, its base has ${count}`);
    }
    for (const it of cv.items) items.push(it.value);
    count += cv.items.length;
  }
  return { type: 'json', value: concatJsonArray(first.value.value, baseCount, items) };
}

export async function resolveChannelValueWith(
  head: ChannelValue,
  lookup: ChannelValueLookup,
  serializer: SerializerProtocol,
  options?: DeltaChainOptions,
): Promise<unknown> {
  return resolveChannelValue(await collectDeltaChain(head, lookup, options), serializer);
}
