import { JsonPlusSerializer } from '@langchain/langgraph-checkpoint';
import { describe, expect, it } from 'vitest';
import { isThreadlogError } from '../../src/errors.ts';
import {
  collectDeltaChain,
  createDeltaEncoder,
  encodeAcknowledged,
  skipDeltaBase,
  resolveChannelBytes,
  resolveChannelValue,
  resolveChannelValueWith,
  type ChannelValue,
  type ChannelVersion,
} from '../../src/events/index.ts';

const serializer = new JsonPlusSerializer();

function message(i: number): Record<string, unknown> {
  return { id: `m${i}`, role: i % 2 ? 'ai' : 'human', content: `message number ${i}`, meta: new Map([['n', i]]) };
}

/** A stand-in for the projection: values stored once per version. */
function store() {
  const byVersion = new Map<ChannelVersion, ChannelValue>();
  return {
    put: (cv: ChannelValue) => byVersion.set(cv.version, cv),
    lookup: async (v: ChannelVersion) => byVersion.get(v),
    byVersion,
  };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('append deltas', () => {
  it('skip-deltas: a list grown over 300 versions reads back at every version; the base of position s is s & (s - 1)', async () => {
    const enc = createDeltaEncoder({ serializer });
    const s = store();
    const list: unknown[] = [];
    const written: ChannelValue[] = [];
    let items = 0;
    for (let v = 1; v <= 300; v++) {
      // LangGraph's reducer builds a new array holding the same message objects
      list.push(message(v));
      if (v % 7 === 0) list.push(message(1000 + v));
      const cv = await encodeAcknowledged(enc, 't', '', 'messages', v, [...list], v === 1 ? null : v - 1, `cp-${v}`);
      s.put(cv);
      written.push(cv);
      if (cv.kind === 'append') items += cv.items.length;
    }
    expect(written[0]!.kind).toBe('snapshot');
    for (const [i, cv] of written.entries()) {
      if (i === 0) continue;
      // one snapshot, then appends only: version v is chain position v - 1
      expect(cv.kind).toBe('append');
      if (cv.kind !== 'append') continue;
      expect(cv.depth).toBe(i);
      expect(cv.base).toBe(skipDeltaBase(i) + 1);
      expect(cv.baseCheckpoint).toBe(`cp-${skipDeltaBase(i) + 1}`);
      // the hops back to the snapshot: the set bits of the position
      const chain = await collectDeltaChain(cv, s.lookup);
      expect(chain.length).toBe(i.toString(2).replace(/0/g, '').length + 1);
    }
    // O(n log n) items in all, far below the O(n^2) of re-writing the list
    expect(items).toBeLessThan(list.length * (Math.log2(300) + 2));
    const expected: unknown[] = [];
    for (let v = 1; v <= 300; v++) {
      expected.push(message(v));
      if (v % 7 === 0) expected.push(message(1000 + v));
      const got = await resolveChannelValueWith(s.byVersion.get(v)!, s.lookup, serializer);
      expect(got).toEqual(expected);
    }
  });

  it('skipDeltaBase clears the lowest set bit, beyond 32 bits too', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 12, 2 ** 40 + 2 ** 35].map((n) => skipDeltaBase(n))).toEqual([0, 0, 2, 0, 4, 4, 6, 0, 8, 2 ** 40]);
    expect(() => skipDeltaBase(0)).toThrow();
  });

  it('a JSON chain joined as bytes reads the same as one deserialized; other serializers go element by element', async () => {
    // a serializer that is not JSON: its lists are compared element by element
    const tagged = {
      dumpsTyped: async (v: unknown): Promise<[string, Uint8Array]> => ['tagged', new TextEncoder().encode(`T${JSON.stringify(v)}`)],
      loadsTyped: async (_t: string, b: Uint8Array | string): Promise<unknown> => JSON.parse((typeof b === 'string' ? b : new TextDecoder().decode(b)).slice(1)),
    };
    for (const ser of [serializer, tagged]) {
      const enc = createDeltaEncoder({ serializer: ser, snapshotEvery: 8 });
      const s = store();
      const list: unknown[] = [];
      for (let v = 1; v <= 20; v++) {
        list.push({ id: v, text: `m${v}, [x] "y"` });
        const cv = await encodeAcknowledged(enc, 't', '', 'messages', v, [...list], v === 1 ? null : v - 1);
        expect(cv.kind).toBe(v % 8 === 1 ? 'snapshot' : 'append');
        s.put(cv);
        const chain = await collectDeltaChain(cv, s.lookup);
        const bytes = resolveChannelBytes(chain);
        if (ser === serializer) {
          expect(bytes?.type).toBe('json');
          expect(await ser.loadsTyped('json', bytes!.value)).toEqual(list);
        } else {
          expect(bytes).toBeUndefined();
        }
        expect(await resolveChannelValue(chain, ser)).toEqual(list);
      }
    }
  });

  it('an append costs the new elements only', async () => {
    const enc = createDeltaEncoder({ serializer });
    const big = Array.from({ length: 200 }, (_, i) => message(i));
    const first = await encodeAcknowledged(enc, 't', '', 'messages', 1, big);
    const second = await encodeAcknowledged(enc, 't', '', 'messages', 2, [...big, message(999)]);
    expect(first.kind).toBe('snapshot');
    expect(second).toMatchObject({ kind: 'append', base: 1, depth: 1, baseLength: 200 });
    expect(second.kind === 'append' && second.items.length).toBe(1);
  });

  it('a change that is not a pure extension makes a snapshot', async () => {
    const enc = createDeltaEncoder({ serializer });
    const list = [message(1), message(2)];
    await encodeAcknowledged(enc, 't', '', 'messages', 1, list);
    // same objects, one mutated in place: identity would lie, bytes do not
    (list[0] as Record<string, unknown>).content = 'edited';
    const edited = await encodeAcknowledged(enc, 't', '', 'messages', 2, [...list, message(3)]);
    expect(edited.kind).toBe('snapshot');
    const removed = await encodeAcknowledged(enc, 't', '', 'messages', 3, list.slice(1));
    expect(removed.kind).toBe('snapshot');
    const reordered = await encodeAcknowledged(enc, 't', '', 'messages', 4, [message(9), list[1]]);
    expect(reordered.kind).toBe('snapshot');
    const appended = await encodeAcknowledged(enc, 't', '', 'messages', 5, [message(9), list[1], message(10)]);
    expect(appended.kind).toBe('append');
    const notList = await encodeAcknowledged(enc, 't', '', 'messages', 6, { not: 'a list' });
    expect(notList.kind).toBe('snapshot');
    expect((await encodeAcknowledged(enc, 't', '', 'messages', 7, [1])).kind).toBe('snapshot');
  });

  it('an unknown previous version makes a snapshot', async () => {
    const enc = createDeltaEncoder({ serializer });
    await encodeAcknowledged(enc, 't', '', 'messages', 1, [1]);
    // the parent checkpoint has version 2, written by another process
    expect((await encodeAcknowledged(enc, 't', '', 'messages', 3, [1, 2, 3], 2)).kind).toBe('snapshot');
    expect((await encodeAcknowledged(enc, 't', '', 'messages', 4, [1, 2, 3, 4], 3)).kind).toBe('append');
    // never seen by this encoder
    expect((await encodeAcknowledged(enc, 't', 'sub', 'messages', 4, [1, 2])).kind).toBe('snapshot');
    expect((await encodeAcknowledged(enc, 'other', '', 'messages', 4, [1, 2])).kind).toBe('snapshot');
    // forgotten
    enc.forget('t');
    expect(enc.trackedBytes).toBeGreaterThan(0); // 'other' is still tracked
    expect((await encodeAcknowledged(enc, 't', '', 'messages', 5, [1, 2, 3, 4, 5], 4)).kind).toBe('snapshot');
  });

  it('namespaces and channels are tracked apart, even with hostile names', async () => {
    const enc = createDeltaEncoder({ serializer });
    await encodeAcknowledged(enc, 'a:b', 'c', 'messages', 1, [1]);
    expect((await encodeAcknowledged(enc, 'a', 'b:c', 'messages', 2, [1, 2])).kind).toBe('snapshot');
    expect((await encodeAcknowledged(enc, 'a:b', 'c', 'messages', 2, [1, 2])).kind).toBe('append');
  });

  it('stays within maxTrackedBytes, and then writes snapshots', async () => {
    const enc = createDeltaEncoder({ serializer, maxTrackedBytes: 4096 });
    for (let t = 0; t < 50; t++) await encodeAcknowledged(enc, `t${t}`, '', 'messages', 1, [message(t)]);
    expect(enc.trackedBytes).toBeLessThanOrEqual(4096);
    expect((await encodeAcknowledged(enc, 't0', '', 'messages', 2, [message(0), message(1)])).kind).toBe('snapshot');
    expect((await encodeAcknowledged(enc, 't49', '', 'messages', 2, [message(49), message(1)])).kind).toBe('append');
  });

  it('an unserializable element is refused', async () => {
    const enc = createDeltaEncoder({ serializer });
    const e = await rejection(encodeAcknowledged(enc, 't', '', 'messages', 1, [{ n: 1n }]));
    expect(isThreadlogError(e, 'not-serializable')).toBe(true);
  });
});

describe('resolving delta chains', () => {
  const snap = async (version: ChannelVersion, value: unknown): Promise<ChannelValue> => {
    const [type, bytes] = await serializer.dumpsTyped(value);
    return { kind: 'snapshot', channel: 'messages', version, value: { type, value: bytes } };
  };
  const app = async (version: ChannelVersion, base: ChannelVersion, items: unknown[], baseLength?: number): Promise<ChannelValue> => ({
    kind: 'append',
    channel: 'messages',
    version,
    base,
    depth: 1,
    ...(baseLength === undefined ? {} : { baseLength }),
    items: await Promise.all(items.map(async (i) => {
      const [type, value] = await serializer.dumpsTyped(i);
      return { type, value };
    })),
  });

  it('a missing link is an error, never a partial value', async () => {
    const s = store();
    s.put(await snap(1, ['a']));
    const head = await app(3, 2, ['c']);
    const e = await rejection(resolveChannelValueWith(head, s.lookup, serializer));
    expect(isThreadlogError(e, 'broken-delta-chain')).toBe(true);
    expect((e as { details?: Record<string, unknown> }).details).toMatchObject({ base: 2 });
  });

  it('a chain that does not start with a snapshot or is not linked is refused', async () => {
    const codes = await Promise.all([
      rejection(resolveChannelValue([], serializer)),
      rejection(resolveChannelValue([await app(2, 1, ['b'])], serializer)),
      rejection(resolveChannelValue([await snap(1, ['a']), await app(3, 2, ['c'])], serializer)),
      rejection(resolveChannelValue([await snap(1, 'not a list'), await app(2, 1, ['c'])], serializer)),
      rejection(resolveChannelValue([await snap(1, ['a']), await app(2, 1, ['c'], 5)], serializer)),
    ]);
    for (const e of codes) expect(isThreadlogError(e, 'broken-delta-chain')).toBe(true);
  });

  it('a cycle is cut by maxDepth', async () => {
    const s = store();
    s.put(await app(1, 2, ['x']));
    s.put(await app(2, 1, ['y']));
    const e = await rejection(collectDeltaChain(s.byVersion.get(1)!, s.lookup, { maxDepth: 10 }));
    expect(isThreadlogError(e, 'broken-delta-chain')).toBe(true);
  });

  it('resolves snapshot + appends, string versions too', async () => {
    const chain = [await snap('0001.5', ['a']), await app('0002.1', '0001.5', ['b', 'c'], 1), await app('0003.9', '0002.1', [], 3)];
    expect(await resolveChannelValue(chain, serializer)).toEqual(['a', 'b', 'c']);
    expect(await resolveChannelValue([await snap(1, { x: 1 })], serializer)).toEqual({ x: 1 });
  });
});

describe('delta bases and the log (a base is in the log before its delta, or with it)', () => {
  type Deferred = { promise: Promise<void>; resolve(): void; reject(e: Error): void };
  const deferred = (): Deferred => {
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined);
    return { promise, resolve, reject };
  };
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

  it('a delta onto an event in flight names that append as a dependency', async () => {
    const enc = createDeltaEncoder({ serializer });
    const t1 = enc.begin();
    expect((await t1.encode('t', '', 'messages', 1, [1])).kind).toBe('snapshot');
    const a1 = deferred();
    t1.settle(a1.promise);
    const t2 = enc.begin();
    expect(await t2.encode('t', '', 'messages', 2, [1, 2])).toMatchObject({ kind: 'append', base: 1 });
    expect(t2.dependsOn()).toEqual([a1.promise]);
    a1.resolve();
    await tick();
    // acknowledged meanwhile: no longer a dependency
    expect(t2.dependsOn()).toEqual([]);
  });

  it('a failed append is never a base, nor is anything built on it', async () => {
    const enc = createDeltaEncoder({ serializer });
    const t1 = enc.begin();
    await t1.encode('t', '', 'messages', 1, [1]);
    t1.settle(Promise.resolve());
    await tick();
    // positions 1 and 2 both append onto the snapshot (position 0)
    const t2 = enc.begin();
    expect(await t2.encode('t', '', 'messages', 2, [1, 2])).toMatchObject({ kind: 'append', base: 1, depth: 1 });
    const a2 = deferred();
    t2.settle(a2.promise);
    const t3 = enc.begin();
    expect(await t3.encode('t', '', 'messages', 3, [1, 2, 3])).toMatchObject({ kind: 'append', base: 1, depth: 2 });
    expect(t3.dependsOn()).toEqual([]);
    const a3 = deferred();
    t3.settle(a3.promise);
    // position 3 appends onto 2 (version 3, in flight)
    const t4 = enc.begin();
    expect(await t4.encode('t', '', 'messages', 4, [1, 2, 3, 4])).toMatchObject({ kind: 'append', base: 3, depth: 3 });
    expect(t4.dependsOn()).toEqual([a3.promise]);
    t4.settle(new Promise(() => undefined));
    a2.reject(new Error('broker down'));
    await tick();
    // version 2 failing changes nothing for what does not build on it
    const t5 = enc.begin();
    expect(await t5.encode('t', '', 'messages', 5, [1, 2, 3, 4, 5])).toMatchObject({ kind: 'append', base: 1, depth: 4 });
    t5.abandon();
    a3.reject(new Error('timed out'));
    await tick();
    // versions 3 and 4 (built on 3) are lost: back to what was acknowledged, version 1
    const t6 = enc.begin();
    expect(await t6.encode('t', '', 'messages', 6, [1, 2, 3, 4, 5, 6])).toMatchObject({ kind: 'append', base: 1, depth: 1, baseLength: 1 });
    expect(t6.dependsOn()).toEqual([]);
  });

  it('with nothing acknowledged, a failure leaves only snapshots', async () => {
    const enc = createDeltaEncoder({ serializer });
    const t1 = enc.begin();
    await t1.encode('t', '', 'messages', 1, [1]);
    const a1 = deferred();
    t1.settle(a1.promise);
    a1.reject(new Error('timed out'));
    await tick();
    expect((await encodeAcknowledged(enc, 't', '', 'messages', 2, [1, 2])).kind).toBe('snapshot');
    // an event that was never appended (encoding failed after its values were built)
    const t3 = enc.begin();
    await t3.encode('t', '', 'messages', 3, [1, 2, 3]);
    t3.abandon();
    expect(await encodeAcknowledged(enc, 't', '', 'messages', 4, [1, 2, 3, 4])).toMatchObject({ kind: 'append', base: 2 });
  });

  it('a thread forgotten while an append is in flight does not get it back as a base', async () => {
    const enc = createDeltaEncoder({ serializer });
    const t1 = enc.begin();
    await t1.encode('t', '', 'messages', 1, [1]);
    const a1 = deferred();
    t1.settle(a1.promise);
    enc.forget('t');
    a1.resolve();
    await tick();
    expect((await encodeAcknowledged(enc, 't', '', 'messages', 2, [1, 2])).kind).toBe('snapshot');
  });

  it('a delta names an in-flight base only once that base was appended', async () => {
    const enc = createDeltaEncoder({ serializer });
    const t1 = enc.begin();
    await t1.encode('t', '', 'messages', 1, [1]);
    const t2 = enc.begin();
    await t2.encode('t', '', 'messages', 2, [1, 2]);
    expect(() => t2.dependsOn()).toThrow(/never appended/);
  });
});
