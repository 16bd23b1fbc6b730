import { randomBytes } from 'node:crypto';
import { JsonPlusSerializer, uuid6 } from '@langchain/langgraph-checkpoint';
import { describe, expect, it } from 'vitest';
import { collectDeltaChain, createDeltaEncoder, encodeAcknowledged, resolveChannelValue, type ChannelValue, type ChannelVersion, type CheckpointEvent, type ThreadlogEvent, type TypedValue, type WritesEvent } from '../../../src/events/index.ts';
import { ids } from '../../../src/projection/ids.ts';
import type { BlobPartDocV2, CheckpointDocV2, HeadDocV2, TombstoneDocV2 } from '../../../src/projection/v2/documents.ts';
import { channelValueOf, createMemoryProjectionV2, type MemoryProjectionV2 } from '../../../src/projection/v2/memory.ts';
import type { ChainedEvent } from '../../../src/projection/v2/plan.ts';

const serializer = new JsonPlusSerializer();
const json = async (v: unknown): Promise<TypedValue> => {
  const [type, value] = await serializer.dumpsTyped(v);
  return { type, value };
};

/** A thread written the way the SDK writes it: skip-deltas for the message list, `step` every other save. */
function writer(threadId: string, ns = '', options: { v1?: boolean } = {}) {
  const enc = createDeltaEncoder({ serializer });
  const messages: string[] = [];
  const versions: Record<string, ChannelVersion> = {};
  let parent: string | undefined;
  let n = 0;
  return {
    messages,
    async checkpoint(extra: string[] = ['m']): Promise<CheckpointEvent> {
      n += 1;
      const id = uuid6(n);
      messages.push(...extra.map((m) => `${m}-${n}`));
      versions.messages = n;
      const values: ChannelValue[] = [await encodeAcknowledged(enc, threadId, ns, 'messages', n, [...messages], undefined, id)];
      if (n % 2 === 1) {
        versions.step = n;
        values.push({ kind: 'snapshot', channel: 'step', version: n, value: await json(n) });
      }
      // a channel listed as new without a value: LangGraph's empty channel
      versions.empty = n;
      if (options.v1) for (const v of values) if (v.kind === 'append') delete v.baseCheckpoint;
      const e: CheckpointEvent = {
        type: 'checkpoint',
        eventId: `e-${threadId}-${ns}-${n}`,
        threadId,
        ts: n,
        checkpointNs: ns,
        checkpointId: id,
        parentCheckpointId: parent,
        checkpoint: { v: 4, id, ts: new Date(n).toISOString(), channel_versions: { ...versions }, versions_seen: {} },
        metadata: { step: n, source: 'loop', parents: {} },
        values,
      };
      parent = id;
      return e;
    },
    async writes(taskId: string, writes: Array<[number, string, unknown]>): Promise<WritesEvent> {
      return {
        type: 'writes',
        eventId: `w-${threadId}-${taskId}-${n}`,
        threadId,
        ts: n,
        checkpointNs: ns,
        checkpointId: parent!,
        taskId,
        taskPath: '',
        writes: await Promise.all(writes.map(async ([idx, channel, v]) => ({ idx, channel, value: await json(v) }))),
      };
    },
  };
}

let offset = 0;
const chained = (events: ThreadlogEvent[]): ChainedEvent[] => events.map((event) => ({ event, position: { partition: 0, offset: String(offset++) }, raw: Buffer.from(event.eventId) }));

/** a channel's value at a checkpoint, read through origins and baseCheckpoint links as the SDK does */
async function read(mem: MemoryProjectionV2, threadId: string, ns: string, checkpointId: string, channel: string): Promise<unknown> {
  const doc = mem.get(ids.checkpoint(threadId, ns, checkpointId)) as CheckpointDocV2 | undefined;
  if (doc === undefined) throw new Error(`no checkpoint ${checkpointId}`);
  const header = JSON.parse(doc.checkpoint) as { channel_versions: Record<string, ChannelVersion> };
  const origin = new Map(doc.origins.map((o) => [o.channel, o.checkpoint])).get(channel);
  if (origin === undefined) return undefined;
  const parts = (id: string) => (mem.get(id) as BlobPartDocV2 | undefined)?.data;
  const at = (cp: string, version: ChannelVersion) => {
    const d = mem.get(ids.checkpoint(threadId, ns, cp)) as CheckpointDocV2 | undefined;
    return d && channelValueOf(d, channel, version, parts);
  };
  const head = at(origin, header.channel_versions[channel]!)!;
  const chain = await collectDeltaChain(head, async (version, baseCheckpoint) => (baseCheckpoint === undefined ? undefined : at(baseCheckpoint, version)));
  return resolveChannelValue(chain, serializer);
}

describe('projection layout 2 (pure plan + in-memory model)', () => {
  it('one document per event, one head per lane per batch; every checkpoint reads back through origins and skip-delta bases', async () => {
    const w = writer('t');
    const events: ThreadlogEvent[] = [];
    const expected = new Map<string, string[]>();
    for (let i = 0; i < 40; i++) {
      const cp = await w.checkpoint(i % 5 === 0 ? ['a', 'b'] : ['a']);
      events.push(cp, await w.writes(`task-${i}`, [[0, 'messages', `reply ${i}`], [1, 'step', i]]));
      expected.set(cp.checkpointId, [...w.messages]);
    }
    const mem = createMemoryProjectionV2();
    const all = chained(events);
    for (let at = 0; at < all.length; at += 8) {
      const plan = mem.applyBatch(all.slice(at, at + 8));
      expect(plan.checkpoints).toHaveLength(4);
      expect(plan.writes).toHaveLength(4);
      expect(plan.heads).toHaveLength(1);
      expect(plan.missing).toEqual([]);
    }
    // documents left: one per event, one head
    expect(mem.docs().filter((d) => d._id.startsWith('cp:'))).toHaveLength(40);
    expect(mem.docs().filter((d) => d._id.startsWith('w:'))).toHaveLength(40);
    expect(mem.docs().filter((d) => d._id.startsWith('head:'))).toHaveLength(1);
    for (const [id, list] of expected) expect(await read(mem, 't', '', id, 'messages')).toEqual(list);
    // `step` changes every other checkpoint: its origin is the last one that wrote it
    const last = (mem.get(ids.head('t', '')) as HeadDocV2).head!;
    expect(await read(mem, 't', '', last.checkpointId, 'step')).toBe(39);
    expect(last.origins.find((o) => o.channel === 'empty')).toBeUndefined();
    expect(last.checkpointId).toBe([...expected.keys()].at(-1));
    expect((mem.get(ids.head('t', '')) as HeadDocV2).chain?.count).toBe(80);
  });

  it('a redelivered batch changes nothing; events already chained are duplicates', async () => {
    const w = writer('r');
    const evs = chained([await w.checkpoint(), await w.writes('x', [[0, 'messages', 1]]), await w.checkpoint()]);
    const mem = createMemoryProjectionV2();
    mem.applyBatch(evs);
    const before = JSON.stringify(mem.docs());
    const again = mem.applyBatch(evs);
    expect([...again.decided.values()]).toEqual(['duplicate', 'duplicate', 'duplicate']);
    expect(again.heads).toEqual([]);
    expect(JSON.stringify(mem.docs())).toBe(before);
    // a batch overlapping the applied part: only the new event goes in
    const next = chained([await w.checkpoint()]);
    const overlap = mem.applyBatch([...evs.slice(2), ...next]);
    expect(overlap.checkpoints).toHaveLength(1);
  });

  it('schema v1 appends (no baseCheckpoint) find their base through the parent or the batch', async () => {
    const w = writer('v1', '', { v1: true });
    const events: ThreadlogEvent[] = [];
    const expected = new Map<string, string[]>();
    for (let i = 0; i < 12; i++) {
      const cp = await w.checkpoint();
      events.push(cp);
      expected.set(cp.checkpointId, [...w.messages]);
    }
    const mem = createMemoryProjectionV2();
    const all = chained(events);
    // one at a time: bases come from the stored head, or earlier documents (skip-deltas reach back)
    const missing = [];
    for (const e of all) missing.push(...mem.applyBatch([e]).missing);
    // a skip-delta base older than the parent cannot be found without its checkpoint id
    for (const m of missing) expect(m.base).not.toBe(Number(m.version) - 1);
    const mem2 = createMemoryProjectionV2();
    expect(mem2.applyBatch(all).missing).toEqual([]);
    for (const [id, list] of expected) expect(await read(mem2, 'v1', '', id, 'messages')).toEqual(list);
  });

  it('an append onto a version that is nowhere is reported, and only that checkpoint lacks its base', async () => {
    const w = writer('m');
    const a = await w.checkpoint();
    const b = await w.checkpoint();
    const c = await w.checkpoint();
    // b never reached the log: c (position 2) appends onto a (position 0) — still fine;
    // make c claim b as its base instead
    const cv = c.values.find((v) => v.channel === 'messages')!;
    if (cv.kind !== 'append') throw new Error('expected an append');
    cv.base = 2;
    cv.baseCheckpoint = b.checkpointId;
    const mem = createMemoryProjectionV2();
    const plan = mem.applyBatch(chained([a, c]));
    expect(plan.missing.map((m) => [m.checkpointId, m.base])).toEqual([[c.checkpointId, 2]]);
    const doc = mem.get(ids.checkpoint('m', '', c.checkpointId)) as CheckpointDocV2;
    expect(doc.values.find((v) => v.channel === 'messages')).not.toHaveProperty('baseCheckpoint');
    expect(await read(mem, 'm', '', a.checkpointId, 'messages')).toEqual(['m-1']);
  });

  it('lanes are apart; a delete drops older documents and heads, later events start afresh', async () => {
    const root = writer('d');
    const sub = writer('d', 'sub:1');
    const first = [await root.checkpoint(), await sub.checkpoint(), await root.checkpoint()];
    const mem = createMemoryProjectionV2();
    const p1 = mem.applyBatch(chained(first));
    expect(p1.heads).toHaveLength(2);
    const del: ThreadlogEvent = { type: 'thread-deleted', eventId: 'del-d', threadId: 'd', ts: 9 };
    const again = writer('d');
    const after = await again.checkpoint();
    const p2 = mem.applyBatch(chained([await sub.checkpoint(), del, after]));
    expect(p2.deletions).toHaveLength(1);
    expect(p2.decided.get(0)).toBe('tombstoned');
    const ids_ = mem.docs().map((d) => d._id);
    expect(ids_.filter((i) => i.startsWith('cp:'))).toEqual([ids.checkpoint('d', '', after.checkpointId)]);
    expect((mem.get(ids.head('d', 'sub:1')) as HeadDocV2).head).toBeUndefined();
    // the lane chains survive the delete: the audit can still verify every event
    expect((mem.get(ids.head('d', 'sub:1')) as HeadDocV2).chain?.count).toBe(2);
    expect((mem.get(ids.head('d', '')) as HeadDocV2).head?.checkpointId).toBe(after.checkpointId);
    expect(await read(mem, 'd', '', after.checkpointId, 'messages')).toEqual(['m-1']);
  });

  it('an erasure drops older documents, and no event of the thread is projected after it, in later batches either', async () => {
    const root = writer('e');
    const sub = writer('e', 'sub:1');
    const mem = createMemoryProjectionV2();
    mem.applyBatch(chained([await root.checkpoint(), await sub.checkpoint(), await root.writes('x', [[0, 'messages', 'hi']])]));
    const erase: ThreadlogEvent = { type: 'thread-erased', eventId: 'erase-e', threadId: 'e', ts: 9 };
    // a late event in the same batch, and a new lane after it: hidden, chained, no head
    const late = await root.checkpoint();
    const p1 = mem.applyBatch(chained([erase, late, await writer('e', 'sub:2').checkpoint()]));
    expect(p1.deletions).toEqual([{ threadId: 'e', before: expect.any(Object) }]);
    expect(p1.decided.get(1)).toBe('tombstoned');
    expect(p1.decided.get(2)).toBe('tombstoned');
    expect(p1.checkpoints).toEqual([]);
    // later batches: still hidden (the stored tombstone says erased), a delete keeps the mark
    const del: ThreadlogEvent = { type: 'thread-deleted', eventId: 'del-e', threadId: 'e', ts: 10 };
    const p2 = mem.applyBatch(chained([await root.checkpoint(), del, await writer('e').checkpoint()]));
    expect([p2.decided.get(0), p2.decided.get(2)]).toEqual(['tombstoned', 'tombstoned']);
    const tomb = mem.get(ids.tombstone('e')) as TombstoneDocV2;
    expect(tomb.erased?.ts).toBe(9);
    expect(tomb.chain?.count).toBe(2);
    const docs = mem.docs().map((d) => d._id);
    expect(docs.filter((i) => i.startsWith('cp:') || i.startsWith('w:') || i.startsWith('blob:'))).toEqual([]);
    for (const ns of ['', 'sub:1', 'sub:2']) expect((mem.get(ids.head('e', ns)) as HeadDocV2).head, ns).toBeUndefined();
    // every event is still in a lane chain: the audit verifies them after the erasure
    expect((mem.get(ids.head('e', '')) as HeadDocV2).chain?.count).toBe(5);
    // other threads are untouched
    const other = writer('o');
    const cp = await other.checkpoint();
    mem.applyBatch(chained([cp]));
    expect(await read(mem, 'o', '', cp.checkpointId, 'messages')).toEqual(['m-1']);
  });

  it('sealed fields of an encrypted event are kept on its document and its head', async () => {
    const w = writer('s');
    const cp = await w.checkpoint();
    const sealed = { type: 'sealed:json', value: new Uint8Array([1, 2, 3]) };
    const mem = createMemoryProjectionV2();
    mem.applyBatch(chained([{ ...cp, metadata: {}, sealed }]));
    expect((mem.get(ids.checkpoint('s', '', cp.checkpointId)) as CheckpointDocV2).sealed).toEqual(sealed);
    expect((mem.get(ids.head('s', '')) as HeadDocV2).head?.sealed).toEqual(sealed);
  });

  it('a value too large for one document goes to blob parts and reads back', async () => {
    const id = uuid6(-1);
    const big = { type: 'bytes', value: new Uint8Array(randomBytes(5 * 1024 * 1024)) };
    const e: CheckpointEvent = {
      type: 'checkpoint', eventId: 'big', threadId: 'b', ts: 1, checkpointNs: '', checkpointId: id, parentCheckpointId: undefined,
      checkpoint: { v: 4, id, ts: 'x', channel_versions: { file: 1, small: 1 }, versions_seen: {} }, metadata: {},
      values: [{ kind: 'snapshot', channel: 'file', version: 1, value: big }, { kind: 'snapshot', channel: 'small', version: 1, value: await json('s') }],
    };
    const mem = createMemoryProjectionV2();
    const plan = mem.applyBatch(chained([e]));
    expect(plan.blobs.length).toBe(1);
    const doc = mem.get(ids.checkpoint('b', '', id)) as CheckpointDocV2;
    expect(doc.values.map((v) => v.kind)).toEqual(['spilled', 'snapshot']);
    const back = channelValueOf(doc, 'file', 1, (i) => (mem.get(i) as BlobPartDocV2 | undefined)?.data);
    expect(back?.kind === 'snapshot' && Buffer.from(back.value.value).equals(Buffer.from(big.value))).toBe(true);
  });
});
