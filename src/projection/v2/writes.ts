/**
 * A checkpoint's pending writes in layout 2: one document per `writes` event (all of one
 * task's writes), merged on read by LangGraph's rules, as layout 1 applied them on write:
 * a regular write is kept once per (task, idx), the first in log order; a special one
 * (errors, interrupts: LangGraph's WRITES_IDX_MAP, a fixed negative idx) the newest. Pure.
 */
import { WRITES_IDX_MAP } from '@langchain/langgraph-checkpoint';
import type { LogPosition, TypedValue } from '../../events/types.ts';
import { comparePos, type Pos } from '../documents.ts';
import type { WritesDocV2 } from './documents.ts';

export interface MergedWrite {
  taskId: string;
  taskPath: string;
  idx: number;
  channel: string;
  value: TypedValue;
  position: LogPosition;
}

const byTaskThenIdx = (a: MergedWrite, b: MergedWrite): number => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : a.idx - b.idx);

/** `plain`: turns a stored value (a BSON Binary from the driver) into bytes */
export function mergeWrites(docs: readonly WritesDocV2[], plain: (v: TypedValue) => TypedValue = (v) => v): MergedWrite[] {
  const sorted = [...docs].sort((a, b) => comparePos(a.pos, b.pos));
  const out = new Map<string, MergedWrite>();
  for (const d of sorted) {
    for (const w of d.writes) {
      const special = WRITES_IDX_MAP[w.channel];
      const idx = special ?? w.idx;
      const k = JSON.stringify([d.taskId, idx]);
      if (special === undefined && out.has(k)) continue;
      out.set(k, { taskId: d.taskId, taskPath: d.taskPath, idx, channel: w.channel, value: plain(w.value), position: toLogPosition(d.pos) });
    }
  }
  return [...out.values()].sort(byTaskThenIdx);
}

const toLogPosition = (pos: Pos): LogPosition => ({ partition: pos.partition, offset: String(pos.offset) });
