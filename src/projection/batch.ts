/**
 * A batch of events reduced to one write per document, so a store can apply it in one round
 * trip per collection and still end where applying `evolve` one event at a time would: per
 * `_id` the winner is the one `evolveDoc`'s rule would keep (newest position, first insert,
 * highest head), and a thread deleted in the batch hides its older events.
 */
import { comparePos, compareHeads, type CheckpointDoc, type Pos, type PositionedEvent } from './documents.ts';
import { hiddenBy, planEvent, type DocWrite, type SkipReason, type ThreadDeletion } from './evolve.ts';

export interface BatchOp {
  write: DocWrite;
  /** index of the event this write came from */
  event: number;
}

export interface BatchPlan {
  /** deletions to run before `ops` (an insert-once document of a reused thread id must not be deleted after it is written) */
  deletions: ThreadDeletion[];
  /** one write per `_id`, each to be applied under its rule's guard */
  ops: BatchOp[];
  /** events decided without the store: tombstoned or fully superseded inside the batch */
  decided: Map<number, SkipReason>;
  /** indexes of the delete events whose deletion runs */
  deleting: Set<number>;
}

const wins = (a: DocWrite, b: DocWrite): boolean =>
  a.rule === 'head-order'
    ? compareHeads(a.doc as CheckpointDoc, b.doc as CheckpointDoc) > 0
    : a.rule === 'newer-wins' && comparePos(a.doc.pos, b.doc.pos) > 0;

/** `tombstones`: the stored delete position per thread id, for the threads in the batch. */
export function planBatch(events: readonly PositionedEvent[], tombstones: ReadonlyMap<string, Pos>): BatchPlan {
  const plans = events.map(planEvent);
  // The newest delete per thread hides every older event, wherever it sits in the batch:
  // applied in sequence, an older event would be written and then deleted.
  const lastDelete = new Map<string, number>();
  plans.forEach((p, i) => {
    if (!p.deletion) return;
    const j = lastDelete.get(p.threadId);
    if (j === undefined || comparePos(p.pos, plans[j]!.pos) > 0) lastDelete.set(p.threadId, i);
  });
  const decided = new Map<number, SkipReason>();
  const deleting = new Set<number>();
  const deletions: ThreadDeletion[] = [];
  const tombOf = (thread: string): Pos | undefined => {
    const i = lastDelete.get(thread);
    const stored = tombstones.get(thread);
    const inBatch = i === undefined ? undefined : plans[i]!.pos;
    return inBatch && (!stored || comparePos(inBatch, stored) > 0) ? inBatch : stored;
  };
  const winners = new Map<string, BatchOp>();
  plans.forEach((p, i) => {
    if (p.deletion) {
      if (lastDelete.get(p.threadId) !== i) return void decided.set(i, 'superseded');
      const stored = tombstones.get(p.threadId);
      if (stored && comparePos(p.pos, stored) < 0) return void decided.set(i, 'older');
      deleting.add(i);
      deletions.push(p.deletion);
    } else if (hiddenBy(tombOf(p.threadId), p.pos)) {
      return void decided.set(i, 'tombstoned');
    }
    for (const write of p.writes) {
      const prev = winners.get(write.doc._id);
      if (!prev || wins(write, prev.write)) winners.set(write.doc._id, { write, event: i });
    }
  });
  const ops = [...winners.values()];
  const owners = new Set(ops.map((o) => o.event));
  plans.forEach((p, i) => {
    if (!decided.has(i) && !deleting.has(i) && !owners.has(i) && p.writes.length > 0) {
      // every document of this event lost to another event of the batch
      const first = p.writes[0]!;
      const winner = winners.get(first.doc._id)!;
      decided.set(i, comparePos(winner.write.doc.pos, first.doc.pos) === 0 ? 'duplicate' : 'superseded');
    }
  });
  return { deletions, ops, decided, deleting };
}
