/**
 * LangGraph-shaped events, written the way the SDK writes them: each step of a thread is a
 * checkpoint whose `messages` list grew by one user and one AI message (an append delta from
 * src/events/deltas.ts, with a snapshot every K versions), a small `step` channel, and every
 * few steps a task's pending writes. Optionally a big incompressible channel value now and
 * then, so the log holds chunked events. Shared by bench/project.ts and the projector tests.
 */
import { randomBytes } from 'node:crypto';
import { createDeltaEncoder, createEventCodec, encodeAcknowledged, type DeltaEncoder, type EventCodec } from '../src/events/index.ts';
import type { ChannelValue, CheckpointEvent, ThreadlogEvent, WritesEvent } from '../src/events/types.ts';

export interface WorkloadOptions {
  threads: number;
  steps: number;
  /** characters of an AI message */
  messageChars: number;
  /** one task's pending writes every this many steps (0: never) */
  writesEvery: number;
  /** every this many checkpoints carry a random `attachment` of bigBytes (0: never) */
  bigEvery: number;
  bigBytes: number;
  threadPrefix: string;
}

export const defaultWorkloadOptions: WorkloadOptions = {
  threads: 100,
  steps: 50,
  messageChars: 400,
  writesEvery: 4,
  bigEvery: 0,
  bigBytes: 1_500_000,
  threadPrefix: 'thread',
};

/** Checkpoint ids sort by step (LangGraph's uuid6 ids sort by time). */
export const checkpointIdFor = (step: number): string => `1ef${step.toString(16).padStart(5, '0')}-0000-6000-8000-000000000000`;

const words = 'the agent called a tool and summarized what it found in the quarterly report for the user'.split(' ');
function text(chars: number, seed: number): string {
  let s = '';
  for (let i = seed; s.length < chars; i++) s += `${words[i % words.length]} `;
  return s.slice(0, chars);
}

export interface Workload {
  /** events of step `step` for every thread, round-robin, the order a busy fleet writes them */
  stepEvents(step: number): Promise<ThreadlogEvent[]>;
  /** every event, step by step */
  all(): AsyncGenerator<ThreadlogEvent[]>;
  readonly eventsPerThread: number;
  readonly stepsPerThread: number;
  readonly codec: EventCodec;
}

export function createWorkload(options: Partial<WorkloadOptions> = {}): Workload {
  const o = { ...defaultWorkloadOptions, ...options };
  const codec = createEventCodec();
  const deltas: DeltaEncoder = createDeltaEncoder();
  const messages = new Map<string, unknown[]>();
  let checkpoints = 0;
  let eventSeq = 0;
  const eventId = (): string => `ev-${process.pid}-${Date.now().toString(36)}-${(eventSeq++).toString(36)}`;

  async function checkpoint(threadId: string, step: number): Promise<CheckpointEvent> {
    const list = messages.get(threadId) ?? [];
    list.push({ role: 'user', content: `question ${step}` }, { role: 'ai', content: text(o.messageChars, step) });
    messages.set(threadId, list);
    const id = checkpointIdFor(step);
    const values: ChannelValue[] = [
      await encodeAcknowledged(deltas, threadId, '', 'messages', step + 1, list, step === 0 ? null : step, id),
      { kind: 'snapshot', channel: 'step', version: step + 1, value: await codec.serialize(step) },
    ];
    const versions: Record<string, number> = { messages: step + 1, step: step + 1 };
    checkpoints += 1;
    if (o.bigEvery > 0 && checkpoints % o.bigEvery === 0) {
      values.push({ kind: 'snapshot', channel: 'attachment', version: step + 1, value: { type: 'bytes', value: randomBytes(o.bigBytes) } });
      versions.attachment = step + 1;
    }
    return {
      type: 'checkpoint',
      eventId: eventId(),
      threadId,
      ts: Date.now(),
      checkpointNs: '',
      checkpointId: id,
      parentCheckpointId: step === 0 ? undefined : checkpointIdFor(step - 1),
      checkpoint: {
        v: 4,
        id,
        ts: new Date().toISOString(),
        channel_versions: versions,
        versions_seen: { agent: { messages: step }, __input__: {} },
      },
      metadata: { source: 'loop', step, parents: {} },
      values,
    };
  }

  async function writes(threadId: string, step: number): Promise<WritesEvent> {
    return {
      type: 'writes',
      eventId: eventId(),
      threadId,
      ts: Date.now(),
      checkpointNs: '',
      checkpointId: checkpointIdFor(step),
      taskId: `task-${step}`,
      taskPath: '~__pregel_pull, agent',
      writes: [{ idx: 0, channel: 'messages', value: await codec.serialize([{ role: 'ai', content: text(80, step) }]) }],
    };
  }

  async function stepEvents(step: number): Promise<ThreadlogEvent[]> {
    const out: ThreadlogEvent[] = [];
    for (let t = 0; t < o.threads; t++) {
      const threadId = `${o.threadPrefix}-${t}`;
      out.push(await checkpoint(threadId, step));
      if (o.writesEvery > 0 && step % o.writesEvery === o.writesEvery - 1) out.push(await writes(threadId, step));
    }
    return out;
  }

  return {
    stepEvents,
    async *all() {
      for (let step = 0; step < o.steps; step++) yield await stepEvents(step);
    },
    stepsPerThread: o.steps,
    eventsPerThread: o.steps + (o.writesEvery > 0 ? Math.floor(o.steps / o.writesEvery) : 0),
    codec,
  };
}
