import { describe, expect, it } from 'vitest';
import type { ApplyBatchOptions, BatchResult } from '../../src/mongo/apply.ts';
import type { PositionedEvent } from '../../src/projection/documents.ts';
import { createCoalescingApplier } from '../../src/projector/coalesce.ts';
import { checkpoint } from '../projection/fixtures.ts';

interface Call {
  events: readonly PositionedEvent[];
  options: ApplyBatchOptions | undefined;
}

/** an applier that holds each apply until released, and records what it was given */
function gated(fail?: (events: readonly PositionedEvent[]) => boolean) {
  const calls: Call[] = [];
  const gates: Array<() => void> = [];
  return {
    calls,
    release: () => gates.shift()?.(),
    inner: {
      async applyBatch(events: readonly PositionedEvent[], options?: ApplyBatchOptions): Promise<BatchResult> {
        calls.push({ events, options });
        await new Promise<void>((r) => gates.push(r));
        if (fail?.(events)) throw new Error('refused');
        return {
          results: events.map((e) => (e.event.threadId.startsWith('old') ? { applied: false, reason: 'not-newer' } : { applied: true })),
          counts: { events: events.length, applied: 0, skipped: {}, inserted: 7, replaced: 1, deleted: 0 },
        };
      },
    },
  };
}

const at = (thread: string, partition: number, offset: number): PositionedEvent => {
  const e = checkpoint(thread, offset, offset);
  return { ...e, position: { partition, offset: String(offset) } };
};
const tick = () => new Promise((r) => setImmediate(r));

describe('coalescing applier', () => {
  it('applies batches that arrive while another runs together, and gives each its own results and offsets', async () => {
    const g = gated();
    const c = createCoalescingApplier(g.inner, { maxInFlight: 1 });
    const first = c.applyBatch([at('a', 0, 1)], { topic: 'tp' });
    await tick();
    const second = c.applyBatch([at('b', 1, 5), at('old-b', 1, 6)], { topic: 'tp' });
    const third = c.applyBatch([at('c', 2, 9)], { topic: 'tp', through: [{ partition: 2, offset: '12' }] });
    const middle = c.applyBatch([at('d', 3, 3)]); // a slice that records no offsets
    g.release();
    await first;
    await tick();
    expect(g.calls).toHaveLength(2);
    expect(g.calls[1]!.events.map((e) => e.event.threadId)).toEqual(['b', 'old-b', 'c', 'd']);
    expect(g.calls[1]!.options).toEqual({ topic: 'tp', through: [{ partition: 1, offset: '6' }, { partition: 2, offset: '12' }] });
    g.release();
    const [r2, r3, r4] = await Promise.all([second, third, middle]);
    expect(r2.results).toEqual([{ applied: true }, { applied: false, reason: 'not-newer' }]);
    expect(r2.counts).toMatchObject({ events: 2, applied: 1, skipped: { 'not-newer': 1 } });
    expect(r3.results).toEqual([{ applied: true }]);
    expect(r4.results).toEqual([{ applied: true }]);
  });

  it('never combines lone retries, and respects maxEvents', async () => {
    const g = gated();
    const c = createCoalescingApplier(g.inner, { maxInFlight: 1, maxEvents: 3 });
    const p1 = c.applyBatch([at('a', 0, 1)], { topic: 'tp' });
    await tick();
    const lone = c.applyBatch([at('b', 1, 1)], { alone: true });
    const p3 = c.applyBatch([at('c', 2, 1), at('c', 2, 2)], { topic: 'tp' });
    const p4 = c.applyBatch([at('d', 3, 1), at('d', 3, 2)], { topic: 'tp' });
    for (let i = 0; i < 4; i++) {
      g.release();
      await tick();
      await tick();
    }
    await Promise.all([p1, lone, p3, p4]);
    expect(g.calls.map((call) => call.events.map((e) => e.event.threadId).join(''))).toEqual(['a', 'b', 'cc', 'dd']);
    expect(g.calls[1]!.options).toEqual({ alone: true });
  });

  it('a failed combined apply fails every batch in it; later ones go on', async () => {
    const g = gated((events) => events.some((e) => e.event.threadId === 'bad'));
    const c = createCoalescingApplier(g.inner, { maxInFlight: 1 });
    const p1 = c.applyBatch([at('a', 0, 1)], { topic: 'tp' });
    await tick();
    const p2 = c.applyBatch([at('bad', 1, 1)], { topic: 'tp' });
    const p3 = c.applyBatch([at('c', 2, 1)], { topic: 'tp' });
    g.release();
    await p1;
    await tick();
    g.release();
    await expect(p2).rejects.toThrow('refused');
    await expect(p3).rejects.toThrow('refused');
    const p4 = c.applyBatch([at('d', 3, 1)], { topic: 'tp' });
    await tick();
    g.release();
    expect((await p4).results).toEqual([{ applied: true }]);
  });

  it('runs up to maxInFlight applies at once', async () => {
    const g = gated();
    const c = createCoalescingApplier(g.inner, { maxInFlight: 2 });
    const ps = [c.applyBatch([at('a', 0, 1)]), c.applyBatch([at('b', 1, 1)]), c.applyBatch([at('c', 2, 1)])];
    await tick();
    expect(g.calls).toHaveLength(2);
    g.release();
    g.release();
    await tick();
    await tick();
    g.release();
    await Promise.all(ps);
    expect(g.calls).toHaveLength(3);
  });
});
