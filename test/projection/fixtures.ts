/** Event factories for projection tests: small, deterministic, positions given explicitly. */
import type { ChannelValue, CheckpointEvent, PendingWrite, ThreadDeletedEvent, WritesEvent } from '../../src/events/types.ts';
import type { PositionedEvent } from '../../src/projection/documents.ts';

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** uuid6-like ids that sort by `n` */
export const cpId = (n: number): string => `1ef00000-0000-6000-8000-${n.toString(16).padStart(12, '0')}`;

export const at = (offset: number, partition = 0) => ({ partition, offset: String(offset) });

export function checkpoint(
  thread: string,
  n: number,
  offset: number,
  extra: { ns?: string; values?: ChannelValue[]; metadata?: Record<string, unknown>; parent?: number; partition?: number } = {},
): PositionedEvent {
  const id = cpId(n);
  const event: CheckpointEvent = {
    type: 'checkpoint',
    eventId: `e-${thread}-${n}-${offset}`,
    threadId: thread,
    ts: 1_700_000_000_000 + offset,
    checkpointNs: extra.ns ?? '',
    checkpointId: id,
    parentCheckpointId: extra.parent === undefined ? undefined : cpId(extra.parent),
    checkpoint: { v: 4, id, ts: new Date(1_700_000_000_000 + n).toISOString(), channel_versions: { messages: n }, versions_seen: {} },
    metadata: extra.metadata ?? { source: 'loop', step: n },
    values: extra.values ?? [{ kind: 'snapshot', channel: 'messages', version: n, value: { type: 'json', value: bytes(`v${n}`) } }],
  };
  return { event, position: at(offset, extra.partition) };
}

export function writes(
  thread: string,
  n: number,
  taskId: string,
  ws: Array<[number, string, string]>,
  offset: number,
  ns = '',
): PositionedEvent {
  const event: WritesEvent = {
    type: 'writes',
    eventId: `w-${thread}-${n}-${taskId}-${offset}`,
    threadId: thread,
    ts: 1_700_000_000_000 + offset,
    checkpointNs: ns,
    checkpointId: cpId(n),
    taskId,
    taskPath: `~${taskId}`,
    writes: ws.map(([idx, channel, v]): PendingWrite => ({ idx, channel, value: { type: 'json', value: bytes(v) } })),
  };
  return { event, position: at(offset) };
}

export function deleted(thread: string, offset: number): PositionedEvent {
  const event: ThreadDeletedEvent = { type: 'thread-deleted', eventId: `d-${thread}-${offset}`, threadId: thread, ts: 1_700_000_000_000 + offset };
  return { event, position: at(offset) };
}

/** A deterministic PRNG (mulberry32) so a failing property run can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A log of random events over a few threads (checkpoints in two namespaces, ordinary and
 * special writes, deletes and reuse of thread ids), then a delivery of it with redeliveries:
 * each step either delivers the next event or replays an older stretch, as a consumer that
 * restarted from an older committed offset would.
 */
export function randomLog(seed: number, length = 60): { log: PositionedEvent[]; delivery: PositionedEvent[] } {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const threads = ['a', 'b:c', 'x}y'];
  const counter = new Map<string, number>();
  const log: PositionedEvent[] = [];
  for (let offset = 0; offset < length; offset += 1) {
    const thread = pick(threads);
    const roll = r();
    // ids mostly grow; sometimes a re-put of an existing id or an older id (forks, re-saves)
    const n = Math.max(1, (counter.get(thread) ?? 0) + (r() < 0.8 ? 1 : -Math.floor(r() * 2)));
    if (roll < 0.55) {
      counter.set(thread, Math.max(n, counter.get(thread) ?? 0));
      log.push(checkpoint(thread, n, offset, { ns: r() < 0.2 ? 'sub:1' : '', values: [{ kind: 'snapshot', channel: pick(['messages', 'x']), version: pick([1, 2, 3, n]), value: { type: 'json', value: bytes(`${offset}`) } }] }));
    } else if (roll < 0.9) {
      log.push(writes(thread, n, pick(['t1', 't2']), [[pick([0, 1]), pick(['messages', '__error__', '__interrupt__']), `${offset}`]], offset));
    } else {
      log.push(deleted(thread, offset));
    }
  }
  const delivery: PositionedEvent[] = [];
  for (let i = 0; i < log.length; ) {
    if (i > 0 && r() < 0.15) {
      const from = Math.floor(r() * i);
      delivery.push(...log.slice(from, Math.min(i, from + 1 + Math.floor(r() * 8))));
    } else {
      delivery.push(log[i]!);
      i += 1;
    }
  }
  return { log, delivery };
}
