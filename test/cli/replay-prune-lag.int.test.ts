import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import type { Checkpoint } from '@langchain/langgraph-checkpoint';
import { replayCommand } from '../../src/cli/replay.ts';
import { pruneCommand } from '../../src/cli/prune.ts';
import { lagCommand, type LagReport } from '../../src/cli/lag.ts';
import { auditCommand } from '../../src/cli/audit.ts';
import type { ReplayedState } from '../../src/ops/replay.ts';
import type { AuditReport } from '../../src/ops/audit.ts';
import type { CheckpointStore } from '../../src/store/types.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { openStore, startProjector } from '../store/helpers.ts';
import { capture, stackEnv, writeThread } from './helpers.ts';

const stack = useIsolatedStack();
const root = path.resolve(import.meta.dirname, '../..');

describe('replay, prune and lag', () => {
  const env = () => stackEnv(stack);
  let store: CheckpointStore;
  let cps: Checkpoint[];
  let pruned: Checkpoint[];

  beforeAll(async () => {
    store = await openStore(stack);
    await startProjector(stack);
    cps = await writeThread(store, 'replayed', 4);
    pruned = await writeThread(store, 'pruned', 5);
    for (const t of ['replayed', 'pruned']) await store.load({ threadId: t }, { consistency: 'strong' });
  });

  it('lag: per partition end, committed and applied offsets, zero once caught up', async () => {
    const report = await waitFor(async () => {
      const io = capture();
      expect(await lagCommand(env(), { json: true }, io)).toBe(0);
      const r = io.json<LagReport>();
      return r.total === 0 ? r : undefined;
    }, { timeoutMs: 60_000, what: 'projector lag 0' });
    expect(report.partitions).toHaveLength(3);
    for (const p of report.partitions.filter((x) => x.end !== '0')) {
      expect(p.committed).toBe(p.end);
      expect(p.applied).toBe(String(BigInt(p.end) - 1n));
    }
  });

  it('replay: the state at a checkpoint, with its pending writes, from the log', async () => {
    const io = capture();
    expect(await replayCommand(env(), 'replayed', { to: cps[1]!.id, json: true }, io)).toBe(0);
    const s = io.json<ReplayedState>();
    expect(s.checkpointId).toBe(cps[1]!.id);
    expect(s.parentCheckpointId).toBe(cps[0]!.id);
    expect(s.checkpoint.channel_values).toEqual({ messages: ['message 0', 'message 1'], count: 1 });
    expect(s.metadata).toMatchObject({ step: 1, source: 'loop' });
    expect(s.pendingWrites).toMatchObject([{ taskId: 'task-1', channel: 'messages', value: 'reply 1' }]);

    const byTime = capture();
    expect(await replayCommand(env(), 'replayed', { to: new Date().toISOString(), json: true }, byTime)).toBe(0);
    expect(byTime.json<ReplayedState>().checkpointId).toBe(cps[3]!.id);
  });

  it('replay --into writes the state as a new thread the store reads back', async () => {
    const io = capture();
    expect(await replayCommand(env(), 'replayed', { to: cps[2]!.id, into: 'forked' }, io)).toBe(0);
    expect(io.stdout).toContain('written as thread forked');
    const loaded = await waitFor(() => store.load({ threadId: 'forked' }, { consistency: 'strong' }));
    expect(loaded.checkpointId).toBe(cps[2]!.id);
    expect(loaded.checkpoint.channel_values).toEqual({ messages: ['message 0', 'message 1', 'message 2'], count: 2 });
    expect(loaded.pendingWrites).toMatchObject([{ taskId: 'task-2', channel: 'messages', value: 'reply 2' }]);
    const again = capture();
    expect(await replayCommand(env(), 'replayed', { to: cps[2]!.id, into: 'forked' }, again)).not.toBe(0);
    expect(again.stderr).toContain('pick a new thread id');
  });

  it('prune: removes old checkpoints from the projection, kept ones still read, audit still passes', async () => {
    const dry = capture();
    expect(await pruneCommand(env(), 'pruned', { keep: 1, dryRun: true, json: true }, dry)).toBe(0);
    const planned = dry.json<{ threads: Array<{ checkpoints: number; writes: number; deleted: number; valueHolders: number }> }>().threads[0]!;
    // newest kept, and its parent (getDeltaChannelHistory starts there); of the other three,
    // those holding the skip-delta bases of the kept message lists stay as value holders
    // (position 4 appends onto position 0, position 3 onto 2), so one document goes; the
    // pending writes of all three go
    expect(planned).toMatchObject({ checkpoints: 1, writes: 3, valueHolders: 2, deleted: 0 });

    const io = capture();
    expect(await pruneCommand(env(), 'pruned', { keep: 1, json: true }, io)).toBe(0);
    expect(io.json<{ threads: Array<{ deleted: number }> }>().threads[0]!.deleted).toBe(4);

    // a fresh store: no L1; channel values come from the remaining blobs
    const fresh = await openStore(stack);
    for (const cp of pruned.slice(3)) {
      const got = await fresh.load({ threadId: 'pruned', checkpointId: cp.id }, { consistency: 'strong' });
      expect(got?.checkpoint.channel_values).toEqual(cp.channel_values);
      expect(got?.pendingWrites).toHaveLength(1);
    }
    const audit = capture();
    expect(await auditCommand(env(), 'pruned', { json: true }, audit)).toBe(0);
    // 4 removed, 2 marked as value holders
    expect(audit.json<AuditReport>().pruned).toBe(6);
    // pruned checkpoints are not read or listed any more
    expect(await fresh.load({ threadId: 'pruned', checkpointId: pruned[0]!.id }, { consistency: 'strong' })).toBeUndefined();
    const listed: string[] = [];
    for await (const c of fresh.list({ threadId: 'pruned', consistency: 'strong' })) listed.push(c.checkpointId);
    expect(listed).toEqual([pruned[4]!.id, pruned[3]!.id]);
  });

  it('replay works with the projection gone', async () => {
    await (await stack.mongo()).db(stack.dbName).dropDatabase();
    const io = capture();
    expect(await replayCommand(env(), 'pruned', { to: pruned[0]!.id, json: true }, io)).toBe(0);
    expect(io.json<ReplayedState>().checkpoint.channel_values).toEqual({ messages: ['message 0'], count: 0 });
  });

  it('runs through the real binary', () => {
    for (const cmd of ['replay', 'prune', 'lag']) {
      const r = spawnSync(process.execPath, [path.join(root, 'bin/threadlog.mjs'), cmd, '--help'], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`Usage: threadlog ${cmd}`);
    }
  });
});
