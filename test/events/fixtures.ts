import { randomBytes, randomUUID } from 'node:crypto';
import type {
  CheckpointEvent,
  ThreadDeletedEvent,
  TypedValue,
  WritesEvent,
} from '../../src/events/index.ts';

export function json(value: unknown): TypedValue {
  return { type: 'json', value: new TextEncoder().encode(JSON.stringify(value)) };
}

export function bytes(n: number, random = false): TypedValue {
  return { type: 'bytes', value: random ? randomBytes(n) : new Uint8Array(n).fill(7) };
}

export function checkpointEvent(overrides: Partial<CheckpointEvent> = {}): CheckpointEvent {
  const checkpointId = overrides.checkpointId ?? '1ef4f797-8335-6428-8001-8a1503f9b875';
  return {
    type: 'checkpoint',
    eventId: randomUUID(),
    threadId: 'thread-1',
    ts: 1_700_000_000_000,
    checkpointNs: '',
    checkpointId,
    parentCheckpointId: '1ef4f797-8335-6428-8000-000000000000',
    checkpoint: {
      v: 4,
      id: checkpointId,
      ts: '2024-07-31T20:14:19.804150+00:00',
      channel_versions: { messages: 3, '__start__': 2, counter: '0003.0.42' },
      versions_seen: { agent: { messages: 2 }, __input__: {} },
    },
    metadata: { source: 'loop', step: 2, parents: {}, user: { tag: 'a"b' } },
    values: [
      { kind: 'snapshot', channel: 'counter', version: '0003.0.42', value: json(42) },
      {
        kind: 'append',
        channel: 'messages',
        version: 3,
        base: 2,
        depth: 1,
        baseLength: 4,
        baseCheckpoint: '1ef4f797-8335-6428-8001-8a1503f9b873',
        items: [json({ role: 'ai', content: 'hi' })],
      },
    ],
    ...overrides,
  };
}

export function writesEvent(overrides: Partial<WritesEvent> = {}): WritesEvent {
  return {
    type: 'writes',
    eventId: randomUUID(),
    threadId: 'thread-1',
    ts: 1_700_000_000_001,
    checkpointNs: 'sub:1',
    checkpointId: '1ef4f797-8335-6428-8001-8a1503f9b875',
    taskId: 'task-7',
    taskPath: '~__pregel_pull, agent',
    writes: [
      { idx: 0, channel: 'messages', value: json([{ role: 'ai', content: 'yo' }]) },
      { idx: -1, channel: '__error__', value: json({ message: 'boom' }) },
      { idx: 1, channel: 'blob', value: bytes(3) },
    ],
    ...overrides,
  };
}

export function deletedEvent(overrides: Partial<ThreadDeletedEvent> = {}): ThreadDeletedEvent {
  return { type: 'thread-deleted', eventId: randomUUID(), threadId: 'thread-1', ts: 1_700_000_000_002, ...overrides };
}

/** Normalizes Buffers/Uint8Array views so toEqual compares bytes, not classes. */
export function plain<T>(v: T): T {
  return JSON.parse(
    JSON.stringify(v, (_k, x: unknown) => {
      if (x instanceof Uint8Array) return { bytes: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex') };
      if (x && typeof x === 'object' && (x as { type?: unknown }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data)) {
        return { bytes: Buffer.from((x as { data: number[] }).data).toString('hex') };
      }
      return x;
    }),
  ) as T;
}
