/**
 * Append deltas for list channels. A LangGraph `messages` channel grows by a message or two
 * per step; writing the whole list at every step makes a thread's log quadratic in its
 * length. So a list that only grew is carried as the elements added since an earlier version
 * (its base) plus a link to it — as **skip-deltas**: the version at position s of a chain
 * (the snapshot is 0) appends onto position s & (s - 1), its lowest set bit cleared (as
 * Subversion stores revisions). A read walks at most log2(s) + 1 links back to the snapshot;
 * a write carries the elements since its base, O(log n) amortized — a power of two carries
 * everything since the snapshot, which is why no periodic full snapshot is needed.
 *
 * Correctness over cleverness: "only grew" is decided on the serialized bytes of every
 * prior element, because LangGraph state objects can be mutated in place and a reference
 * comparison would then write a delta that reads back as a different list. With a JSON
 * serializer (LangGraph's default) the list is serialized once and compared with the bytes
 * of the version before as a prefix (json-list.ts); other serializers go element by element.
 *
 * A base must be in the log before its delta, or ride in the same record batch (see
 * DeltaTicket): never an event whose append failed.
 */
import type { SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { JsonPlusSerializer } from '@langchain/langgraph-checkpoint';
import { ThreadlogError } from '../errors.ts';
import { isSealedValue, type ChannelValue, type ChannelVersion, type TypedValue } from './types.ts';
import { sealedWithoutKey } from './codec.ts';
import { serializeValue } from './validate.ts';
import { appendedElements, concatJsonArray, countJsonElements, isJsonArray, splitJsonElements } from './json-list.ts';

export interface DeltaEncoderOptions {
  serializer: SerializerProtocol;
  /**
   * a chain restarts with a snapshot after this many versions (skip-deltas need none: the
   * default only bounds `depth` far beyond any thread)
   */
  snapshotEvery: number;
  /** memory for remembered list elements across all threads, LRU-evicted */
  maxTrackedBytes: number;
}

export const defaultDeltaEncoderOptions: DeltaEncoderOptions = {
  serializer: new JsonPlusSerializer(),
  snapshotEvery: 2 ** 30,
  maxTrackedBytes: 64 * 1024 * 1024,
};

/** The base a version at chain position `seq` appends onto: `seq` with its lowest set bit cleared. */
export function skipDeltaBase(seq: number): number {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new ThreadlogError('invalid-options', `skip-delta position must be an integer >= 1, got ${seq}`);
  // seq & (seq - 1), without 32-bit bitwise operators
  let low = 1;
  while ((seq / low) % 2 === 0) low *= 2;
  return seq - low;
}

/**
 * The channel values of one event while it is being written. A delta's base must be in the
 * log before the delta, or ride in the same record batch: so what an event writes becomes a
 * base only once its append is acknowledged (`settle` with a fulfilled promise), and a delta
 * built on an event still in flight names that event's append in `dependsOn`, which the
 * appender must not write unless that one was (src/kafka/appender.ts). A failed or abandoned
 * event is never a base: the next save of the channel builds on what was acknowledged.
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
  /**
   * The whole serialized value of each channel encoded so far (what a read would assemble
   * from the delta chain): the write-through record keeps it, so the own head is answered
   * without walking the chain.
   */
  wholes(): ReadonlyMap<string, TypedValue>;
  /** ties the ticket to its append: acknowledged → bases; rejected → never bases */
  settle(append: Promise<unknown>): void;
  /** the event will not be appended (validation or encoding failed): forget it */
  abandon(): void;
}

export interface DeltaEncoder {
  /**
   * A ticket for one event; `checkpointId`: the checkpoint the event carries, named as
   * `baseCheckpoint` by later deltas onto its values. `previousVersion` (to `encode`) is the
   * channel's version in the parent checkpoint when the caller knows it (null: new there); if
   * it is not the version this encoder last wrote, someone else wrote in between and a
   * snapshot is emitted.
   */
  begin(checkpointId?: string): DeltaTicket;
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
  checkpointId?: string,
): Promise<ChannelValue> {
  const t = encoder.begin(checkpointId);
  const cv = await t.encode(threadId, checkpointNs, channel, version, value, previousVersion);
  t.settle(Promise.resolve());
  return cv;
}

interface Ticket {
  state: 'open' | 'in-flight' | 'acknowledged' | 'failed';
  checkpointId: string | undefined;
  append: Promise<unknown> | undefined;
  /** tickets of in-flight events this one's deltas build on */
  bases: Set<Ticket>;
  candidates: Array<{ slot: Slot; chain: Chain }>;
  wholes: Map<string, TypedValue>;
}

/** One version of a chain: what a later version may append onto. */
interface Link {
  version: ChannelVersion;
  /** position in the chain: 0 for the snapshot */
  seq: number;
  /** element count of the list at this version */
  count: number;
  /** JSON: offset in the chain's latest bytes just past this version's last element */
  byteEnd: number;
  checkpointId: string | undefined;
  /** the event carrying it, while in flight; undefined once acknowledged */
  ticket: Ticket | undefined;
}

/**
 * The skip-delta ancestors of a chain's latest version (links[i].seq ascending, the latest
 * last): exactly the versions later positions may append onto — the base of position s + 1
 * is always one of the ancestors of s.
 */
interface Chain {
  links: Link[];
  /** the latest version as one JSON array (JSON serializers) */
  json?: Uint8Array;
  /** the latest version's elements, each serialized (other serializers) */
  items?: TypedValue[];
  bytes: number;
}

/** Per (thread, ns, channel): the chain as of the newest acknowledged version, and the newest in flight. */
interface Slot {
  key: string;
  threadId: string;
  acknowledged?: Chain;
  inFlight?: Chain;
  bytes: number;
}

const PER_ITEM_OVERHEAD = 64;
const PER_LINK_OVERHEAD = 96;
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
    const bytes = (s.acknowledged?.bytes ?? 0) + (s.inFlight && s.inFlight !== s.acknowledged ? s.inFlight.bytes : 0);
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

  /** the chain a new version may extend: in flight (unless doomed), else acknowledged */
  function chainOf(s: Slot): Chain | undefined {
    const latest = s.inFlight?.links.at(-1);
    if (latest?.ticket !== undefined && doomed(latest.ticket)) {
      s.inFlight = undefined;
      resize(s);
    }
    return s.inFlight ?? s.acknowledged;
  }

  function settled(t: Ticket, ok: boolean): void {
    t.state = ok ? 'acknowledged' : 'failed';
    t.bases.clear();
    for (const { slot, chain } of t.candidates) {
      if (ok) {
        // acknowledged: so is every link it builds on
        for (const l of chain.links) l.ticket = undefined;
        slot.acknowledged = chain;
        if (slot.inFlight === chain) slot.inFlight = undefined;
      } else if (slot.inFlight === chain) {
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
    if (!Array.isArray(value)) {
      drop(key);
      const serialized = await serializeValue(o.serializer, value, `channel "${channel}"`);
      t.wholes.set(channel, serialized);
      return { kind: 'snapshot', channel, version, value: serialized };
    }
    const whole = await serializeValue(o.serializer, value, `channel "${channel}"`);
    t.wholes.set(channel, whole);
    const json = whole.type === 'json' && isJsonArray(whole.value);
    const items = json ? undefined : await Promise.all(value.map((v, i) => serializeValue(o.serializer, v, `channel "${channel}"[${i}]`)));
    // after the awaits: what is remembered now, not before serializing
    const slot = slotFor(key, threadId);
    const chain = chainOf(slot);
    const latest = chain?.links.at(-1);
    const link = (seq: number, count: number): Link => ({ version, seq, count, byteEnd: json ? whole.value.byteLength - 1 : 0, checkpointId: t.checkpointId, ticket: t });
    const remember = (next: Chain): void => {
      if (next.bytes > o.maxTrackedBytes) return;
      slot.inFlight = next;
      t.candidates.push({ slot, chain: next });
      touch(slot);
    };
    const dataBytes = json ? whole.value.byteLength : items!.reduce((n, it) => n + it.value.byteLength + PER_ITEM_OVERHEAD, 0);
    const snapshot = (): ChannelValue => {
      remember({ links: [link(0, value.length)], ...(json ? { json: whole.value } : { items: items! }), bytes: PER_ENTRY_OVERHEAD + key.length * 2 + PER_LINK_OVERHEAD + dataBytes });
      return { kind: 'snapshot', channel, version, value: whole };
    };

    const chainable =
      chain !== undefined &&
      latest !== undefined &&
      latest.version !== version &&
      (previousVersion === undefined || previousVersion === latest.version) &&
      latest.seq + 1 < o.snapshotEvery &&
      value.length >= latest.count;
    if (!chainable) return snapshot();
    // the new list must extend the latest version, element for element
    if (json) {
      if (chain.json === undefined || appendedElements(chain.json, latest.count, whole.value)?.length !== value.length - latest.count) return snapshot();
    } else if (chain.items === undefined || !chain.items.every((p, i) => sameBytes(p, items![i]!))) {
      return snapshot();
    }
    const seq = latest.seq + 1;
    const baseSeq = skipDeltaBase(seq);
    const base = chain.links.find((l) => l.seq === baseSeq);
    if (base === undefined) return snapshot();
    let added: TypedValue[];
    if (json) {
      // the elements after the base's: the latest's bytes are a prefix of these, so the base's
      // end offset holds here too
      const from = base.count === 0 ? 1 : base.byteEnd + 1;
      const parts = splitJsonElements(whole.value.subarray(from, whole.value.byteLength - 1));
      if (parts === undefined || parts.length !== value.length - base.count) return snapshot();
      added = parts.map((v) => ({ type: 'json', value: v }));
    } else {
      added = items!.slice(base.count);
    }
    if (base.ticket !== undefined) t.bases.add(base.ticket);
    const links = [...chain.links.filter((l) => l.seq <= baseSeq), link(seq, value.length)];
    remember({ links, ...(json ? { json: whole.value } : { items: items! }), bytes: PER_ENTRY_OVERHEAD + key.length * 2 + links.length * PER_LINK_OVERHEAD + dataBytes });
    return {
      kind: 'append',
      channel,
      version,
      base: base.version,
      depth: seq,
      baseLength: base.count,
      ...(base.checkpointId === undefined ? {} : { baseCheckpoint: base.checkpointId }),
      items: added,
    };
  }

  return {
    begin(checkpointId?: string): DeltaTicket {
      const t: Ticket = { state: 'open', checkpointId, append: undefined, bases: new Set(), candidates: [], wholes: new Map() };
      return {
        encode: (...args) => encode(t, ...args),
        wholes: () => t.wholes,
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
  if (isSealedValue(tv)) throw sealedWithoutKey();
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

/**
 * Finds a stored version of the same (thread, namespace, channel); `baseCheckpoint`: the
 * checkpoint an append names as holding it (schema v2), when it names one.
 */
export type ChannelValueLookup = (version: ChannelVersion, baseCheckpoint?: string) => Promise<ChannelValue | undefined>;

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
    const base = await lookup(cur.base, cur.baseCheckpoint);
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
