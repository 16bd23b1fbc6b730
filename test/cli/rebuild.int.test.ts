/**
 * `threadlog rebuild`: a new generation built from the log under a concurrent write load,
 * every read during the build and the switch checked against what was written, the switch
 * followed by running stores without restart, nothing missing from the new generation;
 * an interrupted rebuild resumed, another abandoned, the serving generation untouched.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it, beforeAll } from 'vitest';
import { rebuildCommand } from '../../src/cli/rebuild.ts';
import { createMetaStore } from '../../src/mongo/meta.ts';
import { openOpsContext } from '../../src/ops/context.ts';
import { startRebuild } from '../../src/ops/rebuild/rebuild.ts';
import { startViewer } from '../../src/ui/viewer.ts';
import type { CheckpointStore } from '../../src/store/types.ts';
import type { Projector } from '../../src/projector/index.ts';
import { committedOffsets, embeddedProjector, endOffsets, makeTopics } from '../projector/helpers.ts';
import { checkpoint, openStore } from '../store/helpers.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { PARTITIONS, stackEnv } from './import-helpers.ts';

describe('threadlog rebuild', () => {
  const stack = useIsolatedStack();
  let topic: string;
  const written = new Map<string, Record<string, unknown>>(); // checkpoint id -> values
  const latest = new Map<string, string>(); // thread -> last acknowledged checkpoint id
  const meta = async () => createMetaStore((await stack.mongo()).db(stack.dbName));

  async function save(store: CheckpointStore, thread: string, i: number): Promise<string> {
    const values = { n: i, text: randomBytes(24).toString('hex') };
    const cp = checkpoint(values, i + 1);
    await store.save({ threadId: thread, checkpoint: cp, parentCheckpointId: latest.get(thread) });
    written.set(cp.id, values);
    latest.set(thread, cp.id);
    return cp.id;
  }

  let v1Projector: Projector;
  beforeAll(async () => {
    topic = await makeTopics(stack, PARTITIONS);
    // the serving generation in the layout before projection v2: the rebuild moves it to v2
    v1Projector = embeddedProjector(stack, { generation: 'v1', partitions: PARTITIONS, layout: 1 });
    await v1Projector.start();
  });

  it('builds v2 under a write load, every read correct, switches, running stores follow', async () => {
    const writer = await openStore(stack, { pinGeneration: false, generationPollMs: 60_000 });
    const reader = await openStore(stack, { pinGeneration: false, generationPollMs: 60_000 });
    // a viewer started before the rebuild, as `threadlog ui` starts it
    const viewer = await startViewer({ kafka: stack.kafka, db: (await stack.mongo()).db(stack.dbName), redis: stack.redis(), store: reader, topicPrefix: stack.topicPrefix, partitions: PARTITIONS, generation: 'v1', redisPrefix: stack.redisPrefix, port: 0, follow: { meta: await meta(), basePrefix: stack.redisPrefix, pollMs: 60_000 } });
    const threads = Array.from({ length: 12 }, (_, i) => `rb-${i}`);
    for (let i = 0; i < 15; i++) await Promise.all(threads.map((t) => save(writer, t, i)));

    let stop = false;
    let reads = 0;
    const failures: string[] = [];
    const load = (async () => {
      let i = 15;
      while (!stop) {
        for (const t of threads) {
          const id = await save(writer, t, i);
          const own = await writer.load({ threadId: t });
          if (own?.checkpointId !== id || JSON.stringify(own.checkpoint.channel_values) !== JSON.stringify(written.get(id))) failures.push(`session read of ${t}: ${own?.checkpointId} != ${id}`);
          const other = threads[(i + t.length) % threads.length]!;
          const floor = latest.get(other)!;
          const strong = await reader.load({ threadId: other }, { consistency: 'strong' });
          if (!strong || strong.checkpointId < floor || JSON.stringify(strong.checkpoint.channel_values) !== JSON.stringify(written.get(strong.checkpointId))) failures.push(`strong read of ${other}: ${strong?.checkpointId} < ${floor}`);
          reads += 2;
        }
        i++;
      }
    })();

    const m = await meta();
    const rebuilt = rebuildCommand(stackEnv(stack), { generation: 'v2', switch: true, quiet: true });
    // the new generation's projector "process" joins the rebuild's group, as an operator would start it
    const rec = await waitFor(() => m.getGeneration('v2'), { what: 'v2 record' });
    await embeddedProjector(stack, { generation: 'v2', groupId: rec.groupId, partitions: PARTITIONS, redisPrefix: rec.redisPrefix }).start();
    expect(await rebuilt).toBe(0);
    expect((await m.getPointer())?.current).toBe('v2');
    const readsAtSwitch = reads;
    await waitFor(() => reads > readsAtSwitch + 48, { timeoutMs: 60_000, what: 'reads after the switch' });
    stop = true;
    await load;
    expect(failures).toEqual([]);

    // nothing missing: both generations hold the same documents once caught up
    const ends = await endOffsets(stack, topic);
    await waitFor(async () => {
      const [a, b] = await Promise.all([committedOffsets(stack, `${stack.topicPrefix}.projector.v1`, topic), committedOffsets(stack, rec.groupId, topic)]);
      return [...ends].every(([p, e]) => a.get(p) === e && b.get(p) === e);
    }, { timeoutMs: 60_000, what: 'both generations caught up' });
    // layouts differ (v1: one document per value and per write; v2: one per event), so the
    // generations are compared by what they read: every checkpoint, with values and writes
    expect((await (await meta()).getLayout('v1'))).toBe(1);
    expect((await (await meta()).getLayout('v2'))).toBe(2);
    const fromV1 = await openStore(stack, { generation: 'v1', pinGeneration: true });
    const fromV2 = await openStore(stack, { generation: 'v2', pinGeneration: true });
    let listed = 0;
    for (const t of threads) {
      const a: unknown[] = [];
      const b: unknown[] = [];
      for await (const c of fromV1.list({ threadId: t, consistency: 'eventual' })) a.push(c);
      for await (const c of fromV2.list({ threadId: t, consistency: 'eventual' })) b.push(c);
      expect(b).toEqual(a);
      listed += b.length;
    }
    expect(listed).toBe(written.size);

    // with v1's projector gone, strong reads only succeed if the running store reads v2 now
    await v1Projector.stop();
    const id = await save(writer, 'rb-1', 999);
    expect((await reader.load({ threadId: 'rb-1' }, { consistency: 'strong', timeoutMs: 10_000 }))?.checkpointId).toBe(id);
    // the viewer followed the switch without a restart: it lists what only v2 has
    await waitFor(() => viewer.generation === 'v2', { what: 'the viewer on v2' });
    const page = (await (await fetch(`${viewer.url}/api/thread?thread=rb-1`)).json()) as { checkpoints: Array<{ checkpointId: string }> };
    expect(page.checkpoints[0]?.checkpointId).toBe(id);
    await viewer.close();
  });

  it('a store created after the switch reads v2 (its pointer), a pinned one reads v1', async () => {
    const store = await openStore(stack, { pinGeneration: false });
    const id = await save(store, 'rb-0', 1000);
    expect((await store.load({ threadId: 'rb-0' }, { consistency: 'strong', timeoutMs: 10_000 }))?.checkpointId).toBe(id);
    const pinned = await openStore(stack, { generation: 'v1' });
    await expect(pinned.load({ threadId: 'rb-0' }, { consistency: 'strong', timeoutMs: 1_000 })).rejects.toThrow();
  });

  it('an interrupted rebuild resumes; an abandoned one goes without touching the serving generation', async () => {
    const env = stackEnv(stack);
    const ctx = await openOpsContext(env, `${stack.id}-rb`);
    try {
      const r = await startRebuild({ ctx, generation: 'v3', pollMs: 100 });
      await r.stop(); // interrupted at once
      expect((await ctx.meta.getGeneration('v3'))?.state).toBe('building');
      expect(await rebuildCommand(env, { generation: 'v3', quiet: true })).toBe(1); // exists: --resume or --abandon
      expect(await rebuildCommand(env, { generation: 'v3', resume: true, quiet: true })).toBe(0);
      expect((await ctx.meta.getGeneration('v3'))?.state).toBe('caught-up');
      const ends = await endOffsets(stack, topic);
      const committed = await committedOffsets(stack, `${stack.topicPrefix}.projector.v3`, topic);
      for (const [p, e] of ends) expect(BigInt(committed.get(p)!)).toBeGreaterThanOrEqual(BigInt(e) - 1n);

      expect(await rebuildCommand(env, { generation: 'v3', abandon: true, quiet: true })).toBe(0);
      expect(await ctx.meta.getGeneration('v3')).toBeUndefined();
      const names = (await ctx.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
      expect(names.filter((n) => n.startsWith('v3_'))).toEqual([]);
      expect(names.filter((n) => n.startsWith('v2_')).length).toBeGreaterThan(0);
      const groups = (await (await stack.admin()).listGroups()).groups.map((g) => g.groupId);
      expect(groups).not.toContain(`${stack.topicPrefix}.projector.v3`);
      // the serving generation cannot be abandoned
      expect(await rebuildCommand(env, { generation: 'v2', abandon: true, quiet: true })).toBe(1);
      expect((await ctx.meta.getPointer())?.current).toBe('v2');
    } finally {
      await ctx.close();
    }
  });
});
