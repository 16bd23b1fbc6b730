/**
 * Consistency against a projector in its own process (tsx consumers/projector.ts): read-your-
 * writes, receipts handed between store instances, strong reads, and bounded waits that fail
 * with 'stale-read' when the projector is stopped — never a silently stale answer.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { isThreadlogError, type CheckpointStore } from '../../src/index.ts';
import { useIsolatedStack } from '../support/isolation.ts';
import { checkpoint, openStore, spawnProjector, type ChildProjector } from './helpers.ts';

const stack = useIsolatedStack();
let a: CheckpointStore;
let b: CheckpointStore;
let projector: ChildProjector;

beforeAll(async () => {
  a = await openStore(stack);
  b = await openStore(stack);
  projector = await spawnProjector(stack);
});

describe('with the projector as a separate process', () => {
  it('save then load returns it, 1,000 times in a row (session)', { timeout: 600_000 }, async () => {
    const thread = stack.unique('ryw');
    let parent: string | undefined;
    for (let i = 0; i < 1000; i++) {
      const cp = checkpoint({ counter: i, messages: Array.from({ length: (i % 5) + 1 }, (_, k) => `m${i}-${k}`) }, i + 1);
      await a.save({ threadId: thread, checkpoint: cp, metadata: { step: i, source: 'loop', parents: {} }, parentCheckpointId: parent });
      parent = cp.id;
      const latest = await a.load({ threadId: thread });
      expect(latest?.checkpointId, `iteration ${i}`).toBe(cp.id);
      expect(latest?.checkpoint.channel_values.counter).toBe(i);
      expect(latest?.metadata).toEqual({ step: i, source: 'loop', parents: {} });
    }
    const s = a.stats();
    expect(s.saves).toBeGreaterThanOrEqual(1000);
  });

  it('another instance reads a save when handed its receipt (after)', async () => {
    const thread = stack.unique('handover');
    const cp = checkpoint({ x: 'handed over' });
    const receipt = await a.save({ threadId: thread, checkpoint: cp });
    const got = await b.load({ threadId: thread }, { consistency: 'eventual', after: receipt });
    expect(got?.checkpointId).toBe(cp.id);
    expect(got?.checkpoint.channel_values).toEqual({ x: 'handed over' });
    // a pending write handed over the same way
    const w = await a.putWrites({ threadId: thread, checkpointId: cp.id, taskId: 't1', writes: [['x', 'pending']] });
    const withWrites = await b.load({ threadId: thread, checkpointId: cp.id }, { after: w });
    expect(withWrites?.pendingWrites).toEqual([{ taskId: 't1', channel: 'x', value: 'pending' }]);
  });

  it('a strong read sees another instance’s save without a receipt', async () => {
    const thread = stack.unique('strong');
    for (let i = 1; i <= 5; i++) {
      const cp = checkpoint({ n: i }, i);
      await a.save({ threadId: thread, checkpoint: cp });
      const got = await b.load({ threadId: thread }, { consistency: 'strong' });
      expect(got?.checkpointId).toBe(cp.id);
    }
  });

  it('with the projector stopped, own session reads and lists answer from the write-through, other reads time out with stale-read; eventual answers', async () => {
    const thread = stack.unique('stopped');
    const first = checkpoint({ v: 1 }, 1);
    const firstReceipt = await a.save({ threadId: thread, checkpoint: first });
    // a's own session read answers from the write-through; b waits on the receipt, so the
    // first checkpoint is known to be projected before the projector stops
    expect((await a.load({ threadId: thread }))?.checkpointId).toBe(first.id);
    expect((await b.load({ threadId: thread }, { after: firstReceipt }))?.checkpointId).toBe(first.id);

    await projector.stop();
    const second = checkpoint({ v: 2 }, 2);
    const receipt = await a.save({ threadId: thread, checkpoint: second });

    // this instance's own save needs no projector under session
    expect((await a.load({ threadId: thread }, { timeoutMs: 600 }))?.checkpointId).toBe(second.id);
    const ownStrong = await a.load({ threadId: thread }, { consistency: 'strong', timeoutMs: 600 }).then(() => undefined, (e: unknown) => e);
    expect(isThreadlogError(ownStrong, 'stale-read')).toBe(true);
    expect((ownStrong as { retriable: boolean }).retriable).toBe(true);
    const strong = await b.load({ threadId: thread }, { consistency: 'strong', timeoutMs: 600 }).then(() => undefined, (e: unknown) => e);
    expect(isThreadlogError(strong, 'stale-read')).toBe(true);
    const after = await b.load({ threadId: thread }, { after: receipt, timeoutMs: 600 }).then(() => undefined, (e: unknown) => e);
    expect(isThreadlogError(after, 'stale-read')).toBe(true);
    // a list of own writes merges them into what is projected, without waiting; another
    // instance handed the receipt has to wait for the projector
    const own: string[] = [];
    for await (const s of a.list({ threadId: thread, timeoutMs: 600 })) own.push(s.checkpointId);
    expect(own).toEqual([second.id, first.id]);
    const listing = await (async () => {
      for await (const _ of b.list({ threadId: thread, after: receipt, timeoutMs: 600 })) break;
    })().then(() => undefined, (e: unknown) => e);
    expect(isThreadlogError(listing, 'stale-read')).toBe(true);

    // eventual: what is projected, i.e. the first checkpoint
    expect((await a.load({ threadId: thread }, { consistency: 'eventual' }))?.checkpointId).toBe(first.id);
    expect((await b.load({ threadId: thread }, { consistency: 'eventual' }))?.checkpointId).toBe(first.id);

    // a projector started again catches up and the same reads succeed
    projector = await spawnProjector(stack);
    expect((await b.load({ threadId: thread }, { after: receipt }))?.checkpointId).toBe(second.id);
    expect((await a.load({ threadId: thread }, { consistency: 'strong' }))?.checkpointId).toBe(second.id);
  });
});
