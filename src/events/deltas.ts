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

/**
 * The channel values of one event while it is being written. A delta's base must be in the
 * log before the delta, or ride in the same record batch: so what an event writes becomes a
 * base only once its append is acknowledged (`settle` with a fulfilled promise), and a delta
 * built on an event still in flight names that event's append in `dependsOn`, which the
 * appender must not write unless that one was (src/kafka/appender.ts). A failed or abandoned
 * event is never a base: the next save of the channel writes a snapshot.
 */
export interface DeltaTicket {
  /** the ChannelValue to put in this event for one new channel version */
  encode(threadId: string, checkpointNs: string, channel: string, version: ChannelVersion, value: unknown, previousVersion?: ChannelVersion | null): Promise<ChannelValue>;
  /**
   * The appends (passed to `settle` of earlier tickets) this event's deltas build on and
   * that were not acknowledged when they were encoded: append this event after them, and
   * only if they are written.
   */
  dependsOn(): Array<Promise<unknown>>;
  /** ties the ticket to its append: acknowledged → bases; rejected → never bases */
  settle(append: Promise<unknown>): void;
  /** the event will not be appended (validation or encoding failed): forget it */
  abandon(): void;
}

export interface DeltaEncoder {
  /**
   * A ticket for one event. `previousVersion` (to `encode`) is the channel's version in the
   * parent checkpoint when the caller knows it (null: new there); if it is not the version
   * this encoder last wrote, someone else wrote in between and a snapshot is emitted.
   */
  begin(): DeltaTicket;
  /** drop what is remembered of a thread (deleted, or written elsewhere from now on) */
  forget(threadId: string): void;
  readonly trackedBytes: number;
}

/** Appends, then acknowledges at once: for callers without a log (tests, pure tools). */
export async function encodeAcknowledged(
  encoder: DeltaEncoder,
  threadId: string,
  checkpointNs: string,
  channel: string,
  version: ChannelVersion,
  value: unknown,
  previousVersion?: ChannelVersion | null,
): Promise<ChannelValue> {
  const t = encoder.begin();
  const cv = await t.encode(threadId, checkpointNs, channel, version, value, previousVersion);
  t.settle(Promise.resolve());
  return cv;
}

interface Ticket {
  state: 'open' | 'in-flight' | 'acknowledged' | 'failed';
  append: Promise<unknown> | undefined;
  /** tickets of in-flight events this one's deltas build on */
  bases: Set<Ticket>;
  candidates: Array<{ slot: Slot; version: Version }>;
}

/** One remembered version of a channel: what a later version may be a delta onto. */
interface Version {
  version: ChannelVersion;
  depth: number;
  /** each element's serialization (serializers that are not JSON) */
  items?: TypedValue[];
  /** the whole list as one JSON array, and its length (JSON serializers) */
  json?: { bytes: Uint8Array; count: number };
  bytes: number;
  /** undefined once acknowledged */
  ticket: Ticket | undefined;
}

/** Per (thread, ns, channel): the newest acknowledged version, and the newest in flight. */
interface Slot {
  key: string;
  threadId: string;
  acknowledged?: Version;
  inFlight?: Version;
  bytes: number;
}

const PER_ITEM_OVERHEAD = 64;
const PER_ENTRY_OVERHEAD = 256;

function sameBytes(a: TypedValue, b: TypedValue): boolean {
  return a.type === b.type && Buffer.from(a.value.buffer, a.value.byteOffset, a.value.byteLength).equals(b.value);
}

/** failed, or building on something that failed: it will never be written */
function doomed(t: Ticket, seen = new Set<Ticket>()): boolean {
  if (t.state === 'failed') return true;
  if (t.state === 'acknowledged' || seen.has(t)) return false;
  seen.add(t);
  for (const b of t.bases) if (doomed(b, seen)) return true;
  return false;
}

export function createDeltaEncoder(options: Partial<DeltaEncoderOptions> = {}): DeltaEncoder {
  const o = { ...defaultDeltaEncoderOptions, ...options };
  if (!Number.isSafeInteger(o.snapshotEvery) || o.snapshotEvery < 1) {
    throw new ThreadlogError('invalid-options', 'snapshotEvery must be an integer >= 1');
  }
  if (!(o.maxTrackedBytes >= 0)) throw new ThreadlogError('invalid-options', 'maxTrackedBytes must be >= 0');
  // Map order is recency order: a touched slot is deleted and re-inserted at the end
  const slots = new Map<string, Slot>();
  const byThread = new Map<string, Set<string>>();
  let trackedBytes = 0;

  function drop(key: string): void {
    const s = slots.get(key);
    if (s === undefined) return;
    slots.delete(key);
    trackedBytes -= s.bytes;
    const keys = byThread.get(s.threadId);
    keys?.delete(key);
    if (keys?.size === 0) byThread.delete(s.threadId);
  }

  function resize(s: Slot): void {
    const bytes = (s.acknowledged?.bytes ?? 0) + (s.inFlight?.bytes ?? 0);
    trackedBytes += bytes - s.bytes;
    s.bytes = bytes;
  }

  function touch(s: Slot): void {
    if (slots.get(s.key) !== s) return; // dropped meanwhile (forgotten or evicted): stays so
    slots.delete(s.key);
    slots.set(s.key, s);
    resize(s);
    if (s.acknowledged === undefined && s.inFlight === undefined) drop(s.key);
    for (const oldest of slots.keys()) {
      if (trackedBytes <= o.maxTrackedBytes) break;
      drop(oldest);
    }
  }

  function slotFor(key: string, threadId: string): Slot {
    let s = slots.get(key);
    if (s === undefined) {
      s = { key, threadId, bytes: 0 };
      slots.set(key, s);
      let keys = byThread.get(threadId);
      if (keys === undefined) byThread.set(threadId, (keys = new Set()));
      keys.add(key);
    }
    return s;
  }

  /** the version a new one may extend: in flight (unless doomed), else acknowledged */
  function baseOf(s: Slot): Version | undefined {
    if (s.inFlight !== undefined && s.inFlight.ticket !== undefined && doomed(s.inFlight.ticket)) {
      s.inFlight = undefined;
      resize(s);
    }
    return s.inFlight ?? s.acknowledged;
  }

  function settled(t: Ticket, ok: boolean): void {
    t.state = ok ? 'acknowledged' : 'failed';
    t.bases.clear();
    for (const { slot, version } of t.candidates) {
      if (ok) {
        version.ticket = undefined;
        slot.acknowledged = version;
        if (slot.inFlight === version) slot.inFlight = undefined;
      } else if (slot.inFlight === version) {
        slot.inFlight = undefined;
      }
      touch(slot);
    }
    t.candidates = [];
  }

  async function encode(
    t: Ticket,
    threadId: string,
    checkpointNs: string,
    channel: string,
    version: ChannelVersion,
    value: unknown,
    previousVersion?: ChannelVersion | null,
  ): Promise<ChannelValue> {
    if (t.state !== 'open') throw new ThreadlogError('invalid-options', 'a delta ticket encodes before it is settled');
    const key = JSON.stringify([threadId, checkpointNs, channel]);
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
    const chainable = (p: Version | undefined): p is Version =>
      p !== undefined && p.version !== version && (previousVersion === undefined || previousVersion === p.version) && p.depth + 1 < o.snapshotEvery;
    const whole = await serializeValue(o.serializer, value, `channel "${channel}"`);
    // after the await: what is remembered now, not before serializing
    const slot = slotFor(key, threadId);
    const prev = baseOf(slot);
    const append = (p: Version, baseLength: number, items: TypedValue[]): ChannelValue => {
      if (p.ticket !== undefined) t.bases.add(p.ticket);
      return { kind: 'append', channel, version, base: p.version, depth: p.depth + 1, baseLength, items };
    };
    const remember = (v: Omit<Version, 'bytes' | 'ticket'>, dataBytes: number): void => {
      const candidate: Version = { ...v, ticket: t, bytes: PER_ENTRY_OVERHEAD + key.length * 2 + dataBytes };
      if (candidate.bytes > o.maxTrackedBytes) return;
      slot.inFlight = candidate;
      t.candidates.push({ slot, version: candidate });
      touch(slot);
    };

    if (whole.type === 'json' && isJsonArray(whole.value)) {
      const base = chainable(prev) && prev.json !== undefined && value.length >= prev.json.count ? prev.json : undefined;
      const added = base && appendedElements(base.bytes, base.count, whole.value);
      const canAppend = added !== undefined && added.length === value.length - base!.count;
      const result: ChannelValue = canAppend
        ? append(prev!, base!.count, added.map((v) => ({ type: 'json', value: v })))
        : { kind: 'snapshot', channel, version, value: whole };
      remember({ version, depth: canAppend ? prev!.depth + 1 : 0, json: { bytes: whole.value, count: value.length } }, whole.value.byteLength);
      return result;
    }

    const items = await Promise.all(value.map((v, i) => serializeValue(o.serializer, v, `channel "${channel}"[${i}]`)));
    const now = baseOf(slot);
    const canAppend =
      chainable(now) &&
      now.items !== undefined &&
      items.length >= now.items.length &&
      now.items.every((p, i) => sameBytes(p, items[i]!));
    const result: ChannelValue = canAppend ? append(now!, now!.items!.length, items.slice(now!.items!.length)) : await snapshot();
    let bytes = 0;
    for (const it of items) bytes += it.value.byteLength + PER_ITEM_OVERHEAD;
    remember({ version, depth: canAppend ? now!.depth + 1 : 0, items }, bytes);
    return result;
  }

  return {
    begin(): DeltaTicket {
      const t: Ticket = { state: 'open', append: undefined, bases: new Set(), candidates: [] };
      return {
        encode: (...args) => encode(t, ...args),
        dependsOn() {
          const out: Array<Promise<unknown>> = [];
          for (const b of t.bases) {
            if (b.state === 'acknowledged') continue;
            if (b.append === undefined) throw new ThreadlogError('invalid-options', 'a delta builds on an event that was never appended (append events in the order they were encoded)');
            out.push(b.append);
          }
          return out;
        },
        settle(append) {
          if (t.state !== 'open') return;
          t.state = 'in-flight';
          t.append = append;
          append.then(
            () => settled(t, true),
            () => settled(t, false),
          );
        },
        abandon() {
          if (t.state === 'open') settled(t, false);
        },
      };
    },
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
