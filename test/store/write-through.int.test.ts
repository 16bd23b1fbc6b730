/**
 * Write-through: a `session` read of this instance's own writes is answered from what it
 * wrote, without waiting for the projector — here with no projector running at all — while
 * `strong` still waits (and times out), `eventual` shows only what is projected, another
 * writer's newer projected checkpoint still wins, and anything this instance cannot know
 * for sure still waits.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { isThreadlogError, type CheckpointStore } from '../../src/index.ts';
import { useIsolatedStack } from '../support/isolation.ts';
import { checkpoint, openStore, startProjector } from './helpers.ts';

const stack = useIsolatedStack();
let a: CheckpointStore;
let b: CheckpointStore;
const meta = (step: number) => ({ source: 'loop' as const, step, parents: {} });
const staleRead = async (p: Promise<unknown>): Promise<boolean> => isThreadlogError(await p.then(() => undefined, (e: unknown) => e), 'stale-read');

beforeAll(async () => {
  a = await openStore(stack);
  b = await openStore(stack);
});

describe('with no projector running', () => {
  it('session reads return own saves and writes; strong times out; eventual sees nothing', async () => {
    const threadId = stack.unique('own');
    const first = checkpoint({ kept: 'one', messages: ['m1'] }, 1);
    const r1 = await a.save({ threadId, checkpoint: first, metadata: meta(1) });
    const latest = await a.load({ threadId });
    expect(latest?.checkpointId).toBe(first.id);
    expect(latest?.checkpoint).toEqual(first);
    expect(latest?.metadata).toEqual(meta(1));
    expect(latest?.position).toEqual({ partition: r1.partition, offset: r1.offset });

    await a.putWrites({ threadId, checkpointId: first.id, taskId: 't1', writes: [['kept', 'pending']] });
    expect((await a.load({ threadId }))?.pendingWrites).toEqual([{ taskId: 't1', channel: 'kept', value: 'pending' }]);

    // a child: one channel unchanged (its value comes from the first save), one appended to,
    // one listed as new without a value (an empty channel: no value read back)
    const second = {
      ...checkpoint({ kept: 'one', messages: ['m1', 'm2'] }, 2),
      channel_versions: { kept: 1, messages: 2, gone: 2 },
    };
    await a.save({ threadId, checkpoint: second, metadata: meta(2), parentCheckpointId: first.id, newVersions: { messages: 2, gone: 2 } });
    const child = await a.load({ threadId });
    expect(child?.checkpointId).toBe(second.id);
    expect(child?.parentCheckpointId).toBe(first.id);
    expect(child?.checkpoint.channel_values).toEqual({ kept: 'one', messages: ['m1', 'm2'] });
    expect(child?.pendingWrites).toEqual([]);
    const byId = await a.load({ threadId, checkpointId: first.id });
    expect(byId?.checkpoint.channel_values).toEqual({ kept: 'one', messages: ['m1'] });
    expect(byId?.pendingWrites).toHaveLength(1);

    expect(await staleRead(a.load({ threadId }, { consistency: 'strong', timeoutMs: 300 }))).toBe(true);
    expect(await a.load({ threadId }, { consistency: 'eventual' })).toBeUndefined();
    // an own receipt handed back is answered too; another instance has to wait for it
    expect((await a.load({ threadId }, { consistency: 'eventual', after: r1 }))?.checkpointId).toBe(second.id);
    expect(await staleRead(b.load({ threadId }, { after: r1, timeoutMs: 300 }))).toBe(true);
    // another instance wrote nothing: its session read has nothing to wait for
    expect(await b.load({ threadId })).toBeUndefined();
  });

  it('a session list of own saves needs no projector: newest first, pending writes, before, limit, filter', async () => {
    const threadId = stack.unique('own-list');
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const cp = checkpoint({ n: i, messages: Array.from({ length: i }, (_, k) => `m${k}`) }, i);
      ids.push(cp.id);
      await a.save({ threadId, checkpoint: cp, metadata: { ...meta(i), ...({ parity: i % 2 ? 'odd' : 'even' } as Record<string, unknown>) }, parentCheckpointId: ids[i - 2] });
    }
    await a.putWrites({ threadId, checkpointId: ids[2]!, taskId: 't', writes: [['n', 'pending']] });
    const all = [];
    for await (const s of a.list({ threadId, timeoutMs: 300 })) all.push(s);
    expect(all.map((s) => s.checkpointId)).toEqual([...ids].reverse());
    expect(all[2]?.pendingWrites).toEqual([{ taskId: 't', channel: 'n', value: 'pending' }]);
    expect(all[0]?.checkpoint.channel_values.messages).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    const page = [];
    for await (const s of a.list({ threadId, before: ids[3], limit: 2, timeoutMs: 300 })) page.push(s.checkpointId);
    expect(page).toEqual([ids[2], ids[1]]);
    const odd = [];
    for await (const s of a.list({ threadId, filter: { parity: 'odd' }, timeoutMs: 300 })) odd.push(s.checkpointId);
    expect(odd).toEqual([ids[4], ids[2], ids[0]]);
    // pending writes on a checkpoint this instance did not save: only the projection can list them
    const foreign = stack.unique('foreign-list');
    const theirs = checkpoint({ by: 'b' });
    await b.save({ threadId: foreign, checkpoint: theirs });
    await a.putWrites({ threadId: foreign, checkpointId: theirs.id, taskId: 't', writes: [['by', 'a']] });
    const waited = (async () => {
      for await (const _ of a.list({ threadId: foreign, timeoutMs: 300 })) break;
    })();
    expect(await staleRead(waited)).toBe(true);
  });

  it('without write-through, the same read waits for the projector', async () => {
    const off = await openStore(stack, { writeThrough: false });
    const threadId = stack.unique('off');
    await off.save({ threadId, checkpoint: checkpoint({ x: 1 }) });
    expect(await staleRead(off.load({ threadId }, { timeoutMs: 300 }))).toBe(true);
  });

  it('waits when it cannot know a value: a channel listed as unchanged whose version was never seen here', async () => {
    const threadId = stack.unique('doubt');
    // newVersions {}: no value is written; one written elsewhere may not be projected yet
    await a.save({ threadId, checkpoint: checkpoint({ x: 1 }), newVersions: {} });
    expect(await staleRead(a.load({ threadId }, { timeoutMs: 300 }))).toBe(true);
  });

  it('deleteThread: the thread is gone here at once, and later saves start afresh', async () => {
    const threadId = stack.unique('delete');
    const doomed = checkpoint({ doomed: true, extra: 1 });
    await a.save({ threadId, checkpoint: doomed });
    await a.putWrites({ threadId, checkpointId: doomed.id, taskId: 't', writes: [['doomed', false]] });
    expect((await a.load({ threadId }))?.checkpointId).toBe(doomed.id);
    await a.deleteThread(threadId);
    expect(await a.load({ threadId })).toBeUndefined();
    expect(await a.load({ threadId, checkpointId: doomed.id })).toBeUndefined();

    const reborn = checkpoint({ doomed: false });
    await a.save({ threadId, checkpoint: reborn });
    const got = await a.load({ threadId });
    expect(got?.checkpointId).toBe(reborn.id);
    expect(got?.checkpoint.channel_values).toEqual({ doomed: false });
    expect(got?.pendingWrites).toEqual([]);
  });
});

describe('with another writer', () => {
  it('a newer checkpoint of another instance, already projected, wins over an older own one', async () => {
    const threadId = stack.unique('race');
    // ids in LangGraph order: ours is older, though it lands later in the log
    const mine = checkpoint({ who: 'a' }, 1);
    const theirs = checkpoint({ who: 'b' }, 2);
    const projector = await startProjector(stack);
    await b.save({ threadId, checkpoint: theirs });
    expect((await b.load({ threadId }, { consistency: 'strong' }))?.checkpointId).toBe(theirs.id);
    await projector.stop();

    await a.save({ threadId, checkpoint: mine });
    const got = await a.load({ threadId });
    expect(got?.checkpointId).toBe(theirs.id);
    expect(got?.checkpoint.channel_values).toEqual({ who: 'b' });
    expect((await a.load({ threadId, checkpointId: mine.id }))?.checkpoint.channel_values).toEqual({ who: 'a' });

    // an own checkpoint newer than the projected head wins again
    const newest = checkpoint({ who: 'a again' }, 3);
    await a.save({ threadId, checkpoint: newest, parentCheckpointId: theirs.id });
    expect((await a.load({ threadId }))?.checkpointId).toBe(newest.id);

    // and once projected, every level agrees
    await startProjector(stack);
    expect((await b.load({ threadId }, { consistency: 'strong' }))?.checkpointId).toBe(newest.id);
  });

  it('an own thread\'s projected head is asked for at most once per headCheckMs: another writer shows within it', async () => {
    const stores = { never: await openStore(stack, { headCheckMs: 60_000 }), second: await openStore(stack, { headCheckMs: 1_000 }), always: await openStore(stack, { headCheckMs: 0 }) };
    try {
      const threads = { never: stack.unique('hc-never'), second: stack.unique('hc-second'), always: stack.unique('hc-always') };
      const mine = { never: checkpoint({ who: 'never' }, 1), second: checkpoint({ who: 'second' }, 1), always: checkpoint({ who: 'always' }, 1) };
      const keys = ['never', 'second', 'always'] as const;
      for (const k of keys) {
        await stores[k].save({ threadId: threads[k], checkpoint: mine[k] });
        // the first read looks at the projected head: there is none yet
        expect((await stores[k].load({ threadId: threads[k] }))?.checkpointId).toBe(mine[k].id);
      }
      const theirs = { never: checkpoint({ who: 'b' }, 2), second: checkpoint({ who: 'b' }, 2), always: checkpoint({ who: 'b' }, 2) };
      const projector = await startProjector(stack);
      for (const k of keys) await b.save({ threadId: threads[k], checkpoint: theirs[k], parentCheckpointId: mine[k].id });
      for (const k of keys) expect((await b.load({ threadId: threads[k] }, { consistency: 'strong' }))?.checkpointId).toBe(theirs[k].id);
      await projector.stop();

      // 0: every read asks, so the projected checkpoint wins at once
      expect((await stores.always.load({ threadId: threads.always }))?.checkpointId).toBe(theirs.always.id);
      // a minute: the head read a moment ago stands (the documented bound), strong waits and sees it
      expect((await stores.never.load({ threadId: threads.never }))?.checkpointId).toBe(mine.never.id);
      expect((await stores.never.load({ threadId: threads.never }, { consistency: 'strong' }))?.checkpoint.channel_values).toEqual({ who: 'b' });
      // a second: it shows once that second is over
      await expect.poll(async () => (await stores.second.load({ threadId: threads.second }))?.checkpointId, { timeout: 5_000, interval: 100 }).toBe(theirs.second.id);
      // the own checkpoint is still there by id
      expect((await stores.second.load({ threadId: threads.second, checkpointId: mine.second.id }))?.checkpoint.channel_values).toEqual({ who: 'second' });
    } finally {
      for (const s of Object.values(stores)) await s.close();
    }
  });
});
