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
import { planPruneV2 } from '../ops/prune-v2.ts';
import { createThreadDocsV2 } from '../mongo/v2/thread-docs.ts';
import { applyPruneV2, readPruneInputsV2 } from '../mongo/v2/prune.ts';
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
  /** layout 2: checkpoints kept only because kept ones' values live in them */
  valueHolders?: number;
  deleted: number;
}

/** one thread's prune in the generation's layout; returns what it removed (or would) */
type PruneOne = (threadId: string, options: { keep: number; olderThan?: number }, dryRun: boolean) => Promise<PruneResult | undefined>;

export async function pruneCommand(env: ThreadlogEnv, threadId: string | undefined, opts: PruneOptions, io: Output): Promise<number> {
  return runCommand(env, io, async (ctx) => {
    if (threadId === undefined && opts.olderThan === undefined) throw new ThreadlogError('invalid-options', 'pass a thread id, --older-than <duration>, or both');
    const cutoff = opts.olderThan === undefined ? undefined : Date.now() - parseDuration(opts.olderThan);
    const db = await ctx.db();
    const v2 = (await (await ctx.projection()).resolveLayout()) === 2;
    const chains = createChainStore(db, env.generation);
    const docsV2 = createThreadDocsV2(db, env.generation);
    const pruneOne: PruneOne = v2
      ? async (t, options, dryRun) => {
          const input = await readPruneInputsV2(db, env.generation, t);
          if (input.cps.length === 0) return undefined;
          const plan = planPruneV2(input.cps, input.writes, input.blobs, options);
          const deleted = dryRun ? 0 : await applyPruneV2(db, env.generation, docsV2, t, plan);
          return { threadId: t, keptCheckpoints: plan.keptCheckpoints, checkpoints: plan.remove.checkpoints.length, writes: plan.remove.writes.length, blobs: plan.remove.blobs.length, valueHolders: plan.valueHolders, deleted };
        }
      : async (t, options, dryRun) => {
          const input = await readPruneInputs(db, env.generation, t);
          if (input.cps.length === 0) return undefined;
          const plan = planPrune(t, input.cps, input.writes, input.blobs, options);
          const deleted = dryRun ? 0 : await applyPrune(db, env.generation, chains, t, plan);
          return { threadId: t, keptCheckpoints: plan.keptCheckpoints, checkpoints: plan.remove.checkpoints.length, writes: plan.remove.writes.length, blobs: plan.remove.blobs.length, deleted };
        };
    const threads: string[] = [];
    if (threadId !== undefined) threads.push(threadId);
    else for await (const t of v2 ? docsV2.listThreads() : chains.listChainedThreads()) threads.push(t);
    const bar = io.progress && threads.length > 1 ? new cliProgress.SingleBar({ format: 'prune {bar} {value}/{total} threads', stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
    bar?.start(threads.length, 0);
    const results: PruneResult[] = [];
    try {
      for (const t of threads) {
        const r = await pruneOne(t, { keep: opts.keep ?? 1, ...(cutoff === undefined ? {} : { olderThan: cutoff }) }, opts.dryRun ?? false);
        if (r === undefined && threadId !== undefined) {
          throw new ThreadlogError('not-found', `thread ${t} has no checkpoints in generation ${env.generation} of ${env.mongoDb}; check THREADLOG_GENERATION / THREADLOG_MONGO_DB`);
        }
        if (r !== undefined) results.push(r);
        bar?.increment();
      }
    } finally {
      bar?.stop();
    }
    if (opts.json) {
      io.out(JSON.stringify({ dryRun: opts.dryRun ?? false, generation: env.generation, threads: results }, null, 2) + '\n');
      return 0;
    }
    const table = new Table({ head: ['thread', 'kept checkpoints', ...(v2 ? ['of them value holders'] : []), 'pruned checkpoints', 'pending writes', 'blobs', 'deleted'] });
    for (const r of results.filter((x) => x.checkpoints + x.writes + x.blobs > 0 || threadId !== undefined)) {
      table.push([r.threadId, r.keptCheckpoints, ...(v2 ? [r.valueHolders ?? 0] : []), r.checkpoints, r.writes, r.blobs, opts.dryRun ? '(dry run)' : r.deleted]);
    }
    io.out(`${table.toString()}\n${opts.dryRun ? 'dry run: nothing removed' : 'removed from the projection only; the log keeps every event (threadlog replay/audit still see them)'}\n`);
    return 0;
  });
}
