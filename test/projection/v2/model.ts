/**
 * Random thread histories for the layout-2 property tests, written the way the SDK writes
 * them (the real delta encoder: skip-deltas, snapshots after a fork or a re-put), beside a
 * plain model of what every read must return: per (thread, ns, checkpoint id) the full
 * channel values and the pending writes, after deletes and re-puts.
 */
import { JsonPlusSerializer, WRITES_IDX_MAP } from '@langchain/langgraph-checkpoint';
import { createDeltaEncoder, type ChannelValue, type ChannelVersion, type CheckpointEvent, type ThreadlogEvent, type TypedValue } from '../../../src/events/index.ts';
import type { PositionedEvent } from '../../../src/projection/documents.ts';
import { rng } from '../fixtures.ts';

export const serializer = new JsonPlusSerializer();

export async function typed(v: unknown): Promise<TypedValue> {
  const [type, value] = await serializer.dumpsTyped(v);
  return { type, value };
}

interface State {
  values: Record<string, unknown>;
  versions: Record<string, ChannelVersion>;
}

export interface ModelCheckpoint {
  threadId: string;
  ns: string;
  checkpointId: string;
  /** channel → value, for every channel with a value */
  values: Record<string, unknown>;
  pos: number;
}

export interface ModelWrite {
  taskId: string;
  idx: number;
  channel: string;
  value: unknown;
}

export interface Model {
  log: PositionedEvent[];
  /** visible checkpoints (not hidden by a later delete), by `${thread}\0${ns}\0${id}` */
  checkpoints: Map<string, ModelCheckpoint>;
  /** merged pending writes of visible checkpoints, LangGraph order (task id, idx) */
  writes: Map<string, ModelWrite[]>;
}

export const cpKey = (thread: string, ns: string, id: string): string => `${thread}\u0000${ns}\u0000${id}`;

/** uuid6-like ids that sort by n */
const idOf = (n: number): string => `1ef${n.toString(16).padStart(5, '0')}-0000-6000-8000-000000000000`;

export interface HistoryOptions {
  events: number;
  threads?: number;
  /** probability of a fork (parent: an older checkpoint of the lane) */
  fork?: number;
  /** probability that an event is a delete of its thread */
  del?: number;
  /** probability that an event is an erasure of its thread (the thread's later events keep coming, late) */
  erase?: number;
  /** probability of a re-put of an existing checkpoint id */
  reput?: number;
  /** bytes of a value that must spill out of its document (0: none) */
  big?: number;
}

/** A random history and its model; deterministic for a seed. */
export async function randomHistory(seed: number, o: HistoryOptions): Promise<Model> {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const enc = createDeltaEncoder({ serializer });
  const threads = Array.from({ length: o.threads ?? 3 }, (_, i) => `t${i}${i === 2 ? ':x}{' : ''}`);
  let n = 0;
  let offset = 0;
  // per lane, the checkpoints written since the thread's last delete
  const lanes = new Map<string, Array<{ id: string; state: State; parent: string | undefined }>>();
  const log: PositionedEvent[] = [];
  const push = (event: ThreadlogEvent): void => void log.push({ event, position: { partition: 0, offset: String(offset++) } });
  let version = 0;
  const nextVersion = (): string => `${String(++version).padStart(6, '0')}.${Math.floor(r() * 0xffff).toString(16)}`;

  for (let i = 0; i < o.events; i++) {
    const threadId = pick(threads);
    const ns = r() < 0.25 ? 'sub:1' : '';
    const lane = lanes.get(`${threadId}\u0000${ns}`) ?? [];
    lanes.set(`${threadId}\u0000${ns}`, lane);
    const roll = r();
    if (o.erase && r() < o.erase) {
      push({ type: 'thread-erased', eventId: `x${offset}`, threadId, ts: offset });
      enc.forget(threadId);
      for (const [k, l] of lanes) if (k.startsWith(`${threadId}\u0000`)) l.length = 0;
      continue;
    }
    if (roll < (o.del ?? 0.03)) {
      push({ type: 'thread-deleted', eventId: `d${offset}`, threadId, ts: offset });
      enc.forget(threadId);
      for (const [k, l] of lanes) if (k.startsWith(`${threadId}\u0000`)) l.length = 0;
      continue;
    }
    if (lane.length > 0 && roll < 0.35) {
      const target = r() < 0.8 ? lane.at(-1)! : pick(lane);
      const taskId = pick(['a', 'b']);
      const channel = pick(['messages', 'step', '__error__', '__interrupt__']);
      const idx = WRITES_IDX_MAP[channel] ?? pick([0, 1]);
      push({ type: 'writes', eventId: `w${offset}`, threadId, ts: offset, checkpointNs: ns, checkpointId: target.id, taskId, taskPath: `~${taskId}`, writes: [{ idx, channel, value: await typed(`w${offset}`) }] });
      continue;
    }
    if (lane.length > 0 && r() < (o.reput ?? 0.03)) {
      // a re-put: the same id, parent and versions, every value as a snapshot
      const old = pick(lane);
      const values: ChannelValue[] = [];
      for (const [channel, v] of Object.entries(old.state.values)) values.push({ kind: 'snapshot', channel, version: old.state.versions[channel]!, value: await typed(v) });
      enc.forget(threadId);
      push(checkpointEvent(threadId, ns, old.id, old.parent, old.state, values, offset));
      continue;
    }
    // a new checkpoint: from the latest, or a fork from an older one
    const parent = lane.length === 0 ? undefined : r() < (o.fork ?? 0.1) ? pick(lane) : lane.at(-1)!;
    const state: State = parent ? { values: { ...parent.state.values }, versions: { ...parent.state.versions } } : { values: {}, versions: {} };
    const id = idOf(++n);
    const ticket = enc.begin(id);
    const values: ChannelValue[] = [];
    const messages = [...((state.values.messages as string[] | undefined) ?? []), ...Array.from({ length: 1 + Math.floor(r() * 2) }, (_, k) => `m${offset}.${k}`)];
    const set = async (channel: string, value: unknown): Promise<void> => {
      const previous = state.versions[channel];
      const v = nextVersion();
      state.values[channel] = value;
      state.versions[channel] = v;
      values.push(await ticket.encode(threadId, ns, channel, v, value, previous ?? null));
    };
    await set('messages', messages);
    if (r() < 0.4) await set('step', offset);
    if (o.big && r() < 0.02) await set('file', 'x'.repeat(o.big));
    // a version new in this checkpoint without a value: LangGraph's empty channel
    if (r() < 0.3) state.versions[`branch:${pick(['a', 'b'])}`] = nextVersion();
    ticket.settle(Promise.resolve());
    push(checkpointEvent(threadId, ns, id, parent?.id, state, values, offset));
    lane.push({ id, state, parent: parent?.id });
  }
  return { log, ...(await modelOf(log)) };
}

function checkpointEvent(threadId: string, ns: string, id: string, parent: string | undefined, state: State, values: ChannelValue[], offset: number): CheckpointEvent {
  return {
    type: 'checkpoint',
    eventId: `c${offset}`,
    threadId,
    ts: offset,
    checkpointNs: ns,
    checkpointId: id,
    parentCheckpointId: parent,
    checkpoint: { v: 4, id, ts: new Date(offset).toISOString(), channel_versions: { ...state.versions }, versions_seen: {} },
    metadata: { step: offset, source: 'loop', parents: {} },
    values,
  };
}

/** The model: a fold over the log, with full values taken from the events' own states. */
async function modelOf(log: readonly PositionedEvent[]): Promise<Pick<Model, 'checkpoints' | 'writes'>> {
  const lastDelete = new Map<string, number>();
  log.forEach((e, i) => (e.event.type === 'thread-deleted' || e.event.type === 'thread-erased') && lastDelete.set(e.event.threadId, i));
  // an erasure hides every event of its thread, before and after it
  const erased = new Set(log.filter((e) => e.event.type === 'thread-erased').map((e) => e.event.threadId));
  const visible = (thread: string, i: number): boolean => !erased.has(thread) && (lastDelete.get(thread) ?? -1) < i;
  const checkpoints = new Map<string, ModelCheckpoint>();
  // a value by (thread, ns, channel, version), as the writer had it
  const byVersion = new Map<string, unknown>();
  const rawWrites = new Map<string, Array<{ taskId: string; idx: number; channel: string; value: unknown }>>();
  for (const [i, { event }] of log.entries()) {
    if (event.type === 'checkpoint') {
      const values: Record<string, unknown> = {};
      for (const cv of event.values) {
        const v = cv.kind === 'snapshot' ? await serializer.loadsTyped(cv.value.type, cv.value.value) : [...((byVersion.get(JSON.stringify([event.threadId, event.checkpointNs, cv.channel, cv.base])) as unknown[]) ?? []).slice(0, cv.baseLength), ...(await Promise.all(cv.items.map((it) => serializer.loadsTyped(it.type, it.value))))];
        byVersion.set(JSON.stringify([event.threadId, event.checkpointNs, cv.channel, cv.version]), v);
      }
      for (const [channel, version] of Object.entries(event.checkpoint.channel_versions)) {
        const k = JSON.stringify([event.threadId, event.checkpointNs, channel, version]);
        if (byVersion.has(k)) values[channel] = byVersion.get(k);
      }
      if (visible(event.threadId, i)) checkpoints.set(cpKey(event.threadId, event.checkpointNs, event.checkpointId), { threadId: event.threadId, ns: event.checkpointNs, checkpointId: event.checkpointId, values, pos: i });
    } else if (event.type === 'writes' && visible(event.threadId, i)) {
      const k = cpKey(event.threadId, event.checkpointNs, event.checkpointId);
      const list = rawWrites.get(k) ?? [];
      rawWrites.set(k, list);
      for (const w of event.writes) list.push({ taskId: event.taskId, idx: w.idx, channel: w.channel, value: await serializer.loadsTyped(w.value.type, w.value.value) });
    }
  }
  const writes = new Map<string, ModelWrite[]>();
  for (const [k, list] of rawWrites) {
    if (!checkpoints.has(k)) continue;
    const merged = new Map<string, ModelWrite>();
    for (const w of list) {
      const key = JSON.stringify([w.taskId, w.idx]);
      if (WRITES_IDX_MAP[w.channel] === undefined && merged.has(key)) continue;
      merged.set(key, w);
    }
    writes.set(k, [...merged.values()].sort((a, b) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : a.idx - b.idx)));
  }
  return { checkpoints, writes };
}
