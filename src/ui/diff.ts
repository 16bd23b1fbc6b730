/**
 * A checkpoint's state against its parent's, for the viewer. The diffing is jsondiffpatch's;
 * this file only flattens its delta into rows a person reads: which channels changed, what
 * was appended to a list (the usual step of an agent: new messages), which values were
 * replaced, added or removed, each with its path and its values before and after.
 */
import { create, type AddedDelta, type ArrayDelta, type Delta, type DeletedDelta, type ModifiedDelta, type MovedDelta, type ObjectDelta } from 'jsondiffpatch';

// jsondiffpatch's delta format (docs/deltas.md of the package); its own guards are not exported
const isAddedDelta = (d: Delta): d is AddedDelta => Array.isArray(d) && d.length === 1;
const isModifiedDelta = (d: Delta): d is ModifiedDelta => Array.isArray(d) && d.length === 2;
const isDeletedDelta = (d: Delta): d is DeletedDelta => Array.isArray(d) && d.length === 3 && d[2] === 0;
const isTextDiffDelta = (d: Delta): d is [string, 0, 2] => Array.isArray(d) && d.length === 3 && d[2] === 2;
const isMovedDelta = (d: Delta): d is MovedDelta => Array.isArray(d) && d.length === 3 && d[2] === 3;
const isArrayDelta = (d: Delta): d is ArrayDelta => d !== undefined && !Array.isArray(d) && typeof d === 'object' && (d as { _t?: unknown })._t === 'a';
const isObjectDelta = (d: Delta): d is ObjectDelta => d !== undefined && !Array.isArray(d) && typeof d === 'object';

export type ChangeKind = 'added' | 'removed' | 'replaced' | 'moved';

export interface Change {
  /** from the channel down: `['messages', 7]`, `['summary']` */
  path: Array<string | number>;
  kind: ChangeKind;
  before?: unknown;
  after?: unknown;
}

export type ChannelChangeKind = 'added' | 'removed' | 'replaced' | 'appended' | 'changed';

export interface ChannelChange {
  channel: string;
  kind: ChannelChangeKind;
  /** items appended to a list channel */
  appended?: number;
}

export interface StateDiff {
  channels: ChannelChange[];
  changes: Change[];
  /** more changes than `maxChanges`: the rest were left out */
  truncated: boolean;
}

/** Lists match items by content (or a message id), so an appended message is an insert, not a rewrite of every item. */
const differ = create({
  objectHash: (item: object) => {
    const o = item as { id?: unknown; kwargs?: { id?: unknown } };
    const id = o.id ?? o.kwargs?.id;
    return typeof id === 'string' ? `id:${id}` : JSON.stringify(item);
  },
  arrays: { detectMove: false },
});

export function diffStates(before: Record<string, unknown>, after: Record<string, unknown>, maxChanges = 500): StateDiff {
  const delta = differ.diff(before, after);
  const out: Change[] = [];
  const channels: ChannelChange[] = [];
  if (delta === undefined || !isObjectDelta(delta)) return { channels, changes: out, truncated: false };
  for (const [channel, d] of Object.entries(delta)) {
    channels.push(channelChange(channel, d, before[channel]));
    walk(d, [channel], before[channel], out);
  }
  channels.sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
  return { channels, changes: out.slice(0, maxChanges), truncated: out.length > maxChanges };
}

function channelChange(channel: string, d: Delta, base: unknown): ChannelChange {
  if (isAddedDelta(d)) return { channel, kind: 'added' };
  if (isDeletedDelta(d)) return { channel, kind: 'removed' };
  if (isModifiedDelta(d)) return { channel, kind: 'replaced' };
  if (isArrayDelta(d) && Array.isArray(base)) {
    const keys = Object.keys(d).filter((k) => k !== '_t');
    const appendedOnly = keys.every((k) => !k.startsWith('_') && Number(k) >= base.length && isAddedDelta(d[k as `${number}`]));
    if (appendedOnly) return { channel, kind: 'appended', appended: keys.length };
  }
  return { channel, kind: 'changed' };
}

function walk(d: Delta, path: Array<string | number>, base: unknown, out: Change[]): void {
  if (d === undefined) return;
  if (isAddedDelta(d)) out.push({ path, kind: 'added', after: d[0] });
  else if (isModifiedDelta(d)) out.push({ path, kind: 'replaced', before: d[0], after: d[1] });
  else if (isDeletedDelta(d)) out.push({ path, kind: 'removed', before: d[0] });
  else if (isMovedDelta(d)) out.push({ path, kind: 'moved', before: d[0], after: d[1] });
  else if (isTextDiffDelta(d)) out.push({ path, kind: 'replaced', after: d[0] });
  else if (isArrayDelta(d)) {
    const arr = Array.isArray(base) ? base : [];
    const removed = Object.keys(d).filter((k) => k.startsWith('_') && k !== '_t').map((k) => Number(k.slice(1))).sort((a, b) => a - b);
    for (const i of removed) walk(d[`_${i}`], [...path, i], arr[i], out);
    const indexes = Object.keys(d).filter((k) => !k.startsWith('_')).map(Number).sort((a, b) => a - b);
    for (const i of indexes) walk(d[`${i}`], [...path, i], arr[i], out);
  } else if (isObjectDelta(d)) {
    const obj = base !== null && typeof base === 'object' ? (base as Record<string, unknown>) : {};
    for (const [k, child] of Object.entries(d)) walk(child, [...path, k], obj[k], out);
  }
}
