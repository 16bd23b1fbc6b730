/**
 * Time travel from the log alone: a thread's state as of a checkpoint id or a time, rebuilt by
 * walking its events in log order (append deltas resolved with events/deltas.ts, pending
 * writes with LangGraph's rules: special channels overwrite, others insert once), and the
 * events that write that state under a new thread id. Needs no projection at all.
 */
import { randomUUID } from 'node:crypto';
import { WRITES_IDX_MAP } from '@langchain/langgraph-checkpoint';
import { ThreadlogError } from '../errors.ts';
import type { EventCodec } from '../events/codec.ts';
import { resolveChannelValueWith } from '../events/deltas.ts';
import { isThreadEnd, type ChannelValue, type CheckpointEvent, type CheckpointHeader, type LoggedEvent, type LogPosition, type PendingWrite, type ThreadlogEvent, type WritesEvent } from '../events/types.ts';
import { compareCheckpointIds } from '../projection/documents.ts';
import type { LogPoint } from './timeline.ts';

export interface ReplayedWrite {
  taskId: string;
  taskPath: string;
  idx: number;
  channel: string;
  value: unknown;
}

export interface ReplayedState {
  threadId: string;
  checkpointNs: string;
  checkpointId: string;
  parentCheckpointId: string | undefined;
  position: LogPosition;
  ts: number;
  /** the checkpoint with its channel values, as LangGraph's getTuple shows it */
  checkpoint: CheckpointHeader & { channel_values: Record<string, unknown> };
  metadata: Record<string, unknown>;
  pendingWrites: ReplayedWrite[];
  /** the events this state was rebuilt from (a prefix of the thread's log) */
  eventsRead: number;
}

interface Walk {
  blobs: Map<string, ChannelValue>;
  checkpoints: Map<string, { e: CheckpointEvent; position: LogPosition }>;
  writes: Map<string, Map<string, { e: WritesEvent; w: PendingWrite; idx: number }>>;
}

const blobKey = (channel: string, version: string | number): string => JSON.stringify([channel, version]);

function walk(events: readonly LoggedEvent[], ns: string): Walk {
  let s: Walk = { blobs: new Map(), checkpoints: new Map(), writes: new Map() };
  for (const { event: e, position } of events) {
    if (isThreadEnd(e)) {
      s = { blobs: new Map(), checkpoints: new Map(), writes: new Map() };
      continue;
    }
    if (e.checkpointNs !== ns) continue;
    if (e.type === 'checkpoint') {
      s.checkpoints.set(e.checkpointId, { e, position });
      for (const v of e.values) if (!s.blobs.has(blobKey(v.channel, v.version))) s.blobs.set(blobKey(v.channel, v.version), v);
    } else {
      const perCp = s.writes.get(e.checkpointId) ?? new Map();
      s.writes.set(e.checkpointId, perCp);
      for (const w of e.writes) {
        const special = WRITES_IDX_MAP[w.channel];
        const idx = special ?? w.idx;
        const k = `${e.taskId}\u0000${idx}`;
        if (special !== undefined || !perCp.has(k)) perCp.set(k, { e, w, idx });
      }
    }
  }
  return s;
}

/** The events to walk and the checkpoint to show for `target`. */
function cut(events: readonly LoggedEvent[], target: LogPoint, ns: string): { prefix: readonly LoggedEvent[]; pick: (w: Walk) => string | undefined } {
  if (target.kind === 'time') {
    const end = events.findLastIndex((e) => e.event.ts <= target.ms);
    return {
      prefix: events.slice(0, end + 1),
      pick: (w) => [...w.checkpoints.keys()].sort(compareCheckpointIds).at(-1),
    };
  }
  const at = events.findLastIndex((e) => e.event.type === 'checkpoint' && e.event.checkpointNs === ns && e.event.checkpointId === target.checkpointId);
  if (at < 0) throw new ThreadlogError('not-found', `checkpoint ${target.checkpointId} (namespace ${JSON.stringify(ns)}) is not in the thread's log; 'threadlog timeline' lists them`);
  // its pending writes may come later, up to a deletion of the thread
  const deleted = events.findIndex((e, i) => i > at && isThreadEnd(e.event));
  return { prefix: events.slice(0, deleted < 0 ? events.length : deleted), pick: () => target.checkpointId };
}

export async function replayThread(events: readonly LoggedEvent[], target: LogPoint, ns: string, codec: EventCodec): Promise<ReplayedState> {
  const threadId = events[0]?.event.threadId ?? '';
  const { prefix, pick } = cut(events, target, ns);
  const w = walk(prefix, ns);
  const id = pick(w);
  const found = id === undefined ? undefined : w.checkpoints.get(id);
  if (found === undefined) {
    throw new ThreadlogError('not-found', target.kind === 'time'
      ? `thread ${threadId} has no checkpoint in namespace ${JSON.stringify(ns)} at or before ${new Date(target.ms).toISOString()}`
      : `checkpoint ${id} is not in the thread's log`);
  }
  const { e, position } = found;
  const channelValues: Record<string, unknown> = {};
  for (const [channel, version] of Object.entries(e.checkpoint.channel_versions)) {
    const head = w.blobs.get(blobKey(channel, version));
    if (head === undefined) continue; // a channel with a version but no value: empty, as LangGraph shows it
    channelValues[channel] = await resolveChannelValueWith(head, async (v) => w.blobs.get(blobKey(channel, v)), codec.options.serializer);
  }
  const writes = [...(w.writes.get(e.checkpointId)?.values() ?? [])].sort((a, b) =>
    a.e.taskPath < b.e.taskPath ? -1 : a.e.taskPath > b.e.taskPath ? 1 : a.e.taskId < b.e.taskId ? -1 : a.e.taskId > b.e.taskId ? 1 : a.idx - b.idx);
  return {
    threadId,
    checkpointNs: ns,
    checkpointId: e.checkpointId,
    parentCheckpointId: e.parentCheckpointId,
    position,
    ts: e.ts,
    checkpoint: { ...e.checkpoint, channel_values: channelValues },
    metadata: e.metadata,
    pendingWrites: await Promise.all(writes.map(async (x) => ({ taskId: x.e.taskId, taskPath: x.e.taskPath, idx: x.w.idx, channel: x.w.channel, value: await codec.deserialize(x.w.value) }))),
    eventsRead: prefix.length,
  };
}

/**
 * The events that put `state` on `into` as its first checkpoint: full snapshots of every
 * channel (no delta bases that only the source thread has), then its pending writes.
 */
export async function forkEvents(state: ReplayedState, into: string, codec: EventCodec, now = Date.now()): Promise<ThreadlogEvent[]> {
  const { channel_values, ...header } = state.checkpoint;
  const values: ChannelValue[] = [];
  for (const [channel, value] of Object.entries(channel_values)) {
    values.push({ kind: 'snapshot', channel, version: header.channel_versions[channel]!, value: await codec.serialize(value) });
  }
  const checkpoint: CheckpointEvent = {
    type: 'checkpoint',
    eventId: randomUUID(),
    threadId: into,
    ts: now,
    checkpointNs: state.checkpointNs,
    checkpointId: state.checkpointId,
    parentCheckpointId: undefined,
    checkpoint: header,
    metadata: { ...state.metadata, replayed_from: { thread_id: state.threadId, checkpoint_id: state.checkpointId, partition: state.position.partition, offset: state.position.offset } },
    values,
  };
  const byTask = new Map<string, ReplayedWrite[]>();
  for (const w of state.pendingWrites) byTask.set(w.taskId, [...(byTask.get(w.taskId) ?? []), w]);
  const writes: WritesEvent[] = [];
  for (const [taskId, ws] of byTask) {
    writes.push({
      type: 'writes',
      eventId: randomUUID(),
      threadId: into,
      ts: now,
      checkpointNs: state.checkpointNs,
      checkpointId: state.checkpointId,
      taskId,
      taskPath: ws[0]!.taskPath,
      writes: await Promise.all(ws.map(async (w) => ({ idx: w.idx, channel: w.channel, value: await codec.serialize(w.value) }))),
    });
  }
  return [checkpoint, ...writes];
}
