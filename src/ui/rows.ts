/**
 * The viewer's shapes: a checkpoint as a row of the thread's tree, a thread as a row of the
 * thread list. Pure: projection records in, plain JSON out (user data stays data: the front
 * end renders every field as text).
 */
import type { CheckpointRecord, WriteRecord } from '../mongo/records.ts';
import { toPlain } from './plain.ts';

/** LangGraph's special channels (langgraph/constants): a node paused, a human answered, a node failed */
export const INTERRUPT = '__interrupt__';
export const RESUME = '__resume__';
export const ERROR = '__error__';

export interface CheckpointRow {
  checkpointId: string;
  checkpointNs: string;
  parentCheckpointId: string | null;
  /** write time of the checkpoint's event, ISO */
  time: string;
  step: number | null;
  source: string | null;
  metadata: unknown;
  /** `partition:offset` of the checkpoint's event */
  position: string;
  /** pending writes, as task and channel */
  writes: Array<{ taskId: string; channel: string }>;
  /** a node called interrupt() here: the run paused for a human */
  interrupt: boolean;
  /** a human's answer (Command({ resume })) was recorded here */
  resume: boolean;
  /** a task failed here */
  error: boolean;
  /** `threadlog replay --into` made this thread from that one */
  replayedFrom: string | null;
}

export interface ThreadRow {
  threadId: string;
  checkpointId: string;
  time: string;
  step: number | null;
  source: string | null;
  metadata: unknown;
  namespaces?: string[];
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function checkpointRow(rec: CheckpointRecord, writes: readonly WriteRecord[]): CheckpointRow {
  const md = rec.metadata as Record<string, unknown>;
  const replayed = md.replayed_from as { thread_id?: unknown; checkpoint_id?: unknown } | undefined;
  return {
    checkpointId: rec.checkpointId,
    checkpointNs: rec.checkpointNs,
    parentCheckpointId: rec.parentCheckpointId ?? null,
    time: new Date(rec.ts).toISOString(),
    step: num(md.step),
    source: str(md.source),
    metadata: toPlain(md),
    position: `${rec.position.partition}:${rec.position.offset}`,
    writes: writes.map((w) => ({ taskId: w.taskId, channel: w.channel })),
    interrupt: writes.some((w) => w.channel === INTERRUPT),
    resume: writes.some((w) => w.channel === RESUME),
    error: writes.some((w) => w.channel === ERROR),
    replayedFrom: replayed === undefined || replayed === null ? null : `${String(replayed.thread_id)} @ ${String(replayed.checkpoint_id)}`,
  };
}

export function threadRow(threadId: string, head: CheckpointRecord, namespaces?: string[]): ThreadRow {
  const md = head.metadata as Record<string, unknown>;
  return {
    threadId,
    checkpointId: head.checkpointId,
    time: new Date(head.ts).toISOString(),
    step: num(md.step),
    source: str(md.source),
    metadata: toPlain(md),
    ...(namespaces ? { namespaces } : {}),
  };
}
