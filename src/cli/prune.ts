/**
 * `threadlog prune <thread> | --older-than <duration>`: removes old checkpoints from the
 * PROJECTION (never from the log). What stays is decided in ops/prune.ts.
 */
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { ThreadlogError } from '../errors.ts';
import { createChainStore } from '../mongo/chain-store.ts';
import { applyPrune, readPruneInputs } from '../mongo/prune-store.ts';
import { parseDuration, planPrune } from '../ops/prune.ts';
import { runCommand, type Output } from './context.ts';
import type { ThreadlogEnv } from './env.ts';

export interface PruneOptions {
  olderThan?: string;
  keep?: number;
  dryRun?: boolean;
  json?: boolean;
}

export interface PruneResult {
  threadId: string;
  keptCheckpoints: number;
  checkpoints: number;
  writes: number;
  blobs: number;
  deleted: number;
}

export async function pruneCommand(env: ThreadlogEnv, threadId: string | undefined, opts: PruneOptions, io: Output): Promise<number> {
  return runCommand(env, io, async (ctx) => {
    if (threadId === undefined && opts.olderThan === undefined) throw new ThreadlogError('invalid-options', 'pass a thread id, --older-than <duration>, or both');
    const cutoff = opts.olderThan === undefined ? undefined : Date.now() - parseDuration(opts.olderThan);
    const db = await ctx.db();
    const chains = createChainStore(db, env.generation);
    const threads: string[] = [];
    if (threadId !== undefined) threads.push(threadId);
    else for await (const t of chains.listChainedThreads()) threads.push(t);
    const bar = io.progress && threads.length > 1 ? new cliProgress.SingleBar({ format: 'prune {bar} {value}/{total} threads', stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
    bar?.start(threads.length, 0);
    const results: PruneResult[] = [];
    try {
      for (const t of threads) {
        const input = await readPruneInputs(db, env.generation, t);
        if (threadId !== undefined && input.cps.length === 0) {
          throw new ThreadlogError('not-found', `thread ${t} has no checkpoints in generation ${env.generation} of ${env.mongoDb}; check THREADLOG_GENERATION / THREADLOG_MONGO_DB`);
        }
        const plan = planPrune(t, input.cps, input.writes, input.blobs, { keep: opts.keep ?? 1, ...(cutoff === undefined ? {} : { olderThan: cutoff }) });
        const deleted = opts.dryRun ? 0 : await applyPrune(db, env.generation, chains, t, plan);
        results.push({ threadId: t, keptCheckpoints: plan.keptCheckpoints, checkpoints: plan.remove.checkpoints.length, writes: plan.remove.writes.length, blobs: plan.remove.blobs.length, deleted });
        bar?.increment();
      }
    } finally {
      bar?.stop();
    }
    if (opts.json) {
      io.out(JSON.stringify({ dryRun: opts.dryRun ?? false, generation: env.generation, threads: results }, null, 2) + '\n');
      return 0;
    }
    const table = new Table({ head: ['thread', 'kept checkpoints', 'pruned checkpoints', 'pending writes', 'blobs', 'deleted'] });
    for (const r of results.filter((x) => x.checkpoints + x.writes + x.blobs > 0 || threadId !== undefined)) {
      table.push([r.threadId, r.keptCheckpoints, r.checkpoints, r.writes, r.blobs, opts.dryRun ? '(dry run)' : r.deleted]);
    }
    io.out(`${table.toString()}\n${opts.dryRun ? 'dry run: nothing removed' : 'removed from the projection only; the log keeps every event (threadlog replay/audit still see them)'}\n`);
    return 0;
  });
}
