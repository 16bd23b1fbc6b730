/**
 * The thread's tree as rows, newest first, like `git log --graph`: each root-namespace
 * checkpoint sits in a lane; a checkpoint with several children (a fork: time travel, a
 * replay) is where lanes join. Subgraph checkpoints (a non-empty namespace) are grouped: a
 * run of consecutive checkpoints of one namespace becomes one group row that the root lanes
 * pass through. Pure, so it is unit-tested without a browser.
 */
export interface LaneInput {
  checkpointId: string;
  checkpointNs: string;
  parentCheckpointId: string | null;
}

export interface NodeRow<T extends LaneInput> {
  kind: 'node';
  item: T;
  /** this checkpoint's column */
  lane: number;
  /** columns whose line passes the row without touching the node */
  through: number[];
  /** columns whose line comes from above into the node (its children's lanes) */
  joins: number[];
  /** a line goes on down from the node (it has a parent) */
  down: boolean;
  /** children among the rows laid out (more than one: a fork) */
  children: number;
}

export interface GroupRow<T extends LaneInput> {
  kind: 'group';
  ns: string;
  items: T[];
  through: number[];
}

export type TreeRow<T extends LaneInput> = NodeRow<T> | GroupRow<T>;

export interface TreeLayout<T extends LaneInput> {
  rows: Array<TreeRow<T>>;
  /** columns used at the widest row */
  width: number;
}

/** `items` newest first (the API's order). */
export function layoutTree<T extends LaneInput>(items: readonly T[]): TreeLayout<T> {
  const children = new Map<string, number>();
  for (const it of items) {
    if (it.parentCheckpointId !== null) {
      const k = `${it.checkpointNs}\u0000${it.parentCheckpointId}`;
      children.set(k, (children.get(k) ?? 0) + 1);
    }
  }
  const lanes: Array<string | null> = [];
  const rows: Array<TreeRow<T>> = [];
  let width = 1;
  const active = (): number[] => lanes.flatMap((id, c) => (id === null ? [] : [c]));
  for (const it of items) {
    if (it.checkpointNs !== '') {
      const last = rows.at(-1);
      if (last?.kind === 'group' && last.ns === it.checkpointNs) last.items.push(it);
      else rows.push({ kind: 'group', ns: it.checkpointNs, items: [it], through: active() });
      continue;
    }
    const joins = lanes.flatMap((id, c) => (id === it.checkpointId ? [c] : []));
    let lane = joins[0] ?? lanes.indexOf(null);
    if (lane < 0) lane = lanes.length;
    const through = lanes.flatMap((id, c) => (id !== null && id !== it.checkpointId && c !== lane ? [c] : []));
    for (const c of joins) lanes[c] = null;
    lanes[lane] = it.parentCheckpointId;
    while (lanes.length > 0 && lanes.at(-1) === null) lanes.pop();
    width = Math.max(width, lane + 1, ...through.map((c) => c + 1), ...joins.map((c) => c + 1));
    rows.push({ kind: 'node', item: it, lane, through, joins, down: it.parentCheckpointId !== null, children: children.get(`\u0000${it.checkpointId}`) ?? 0 });
  }
  return { rows, width };
}
