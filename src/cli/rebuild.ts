/**
 * `threadlog rebuild`: build a new projection generation from the log while the serving one
 * keeps serving, switch readers to it when caught up, drop or abandon generations.
 * Logic in src/ops/rebuild; this file parses, shows progress and says what to do next.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { servingGeneration } from '../mongo/meta.ts';
import { openOpsContext, type OpsContext } from '../ops/context.ts';
import { dropGeneration, nextGenerationName, startRebuild, switchGeneration, waitForHandOver } from '../ops/rebuild/rebuild.ts';
import { parseEnv, type ThreadlogEnv } from './env.ts';

export interface RebuildCommandOptions {
  generation?: string;
  resume?: boolean;
  abandon?: boolean;
  switch?: boolean;
  dropOld?: boolean;
  handOver?: boolean;
  status?: boolean;
  quiet?: boolean;
  /** stop the build (tests: an interruption) */
  signal?: AbortSignal;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function status(ctx: OpsContext): Promise<number> {
  const pointer = await ctx.meta.getPointer();
  const t = new Table({ head: ['generation', 'state', 'redis prefix', 'consumer group'] });
  const serving = await servingGeneration(ctx.meta, ctx.env.generation);
  const recs = await ctx.meta.collection.find({ _id: { $gte: 'generation:', $lt: 'generation;' } }).toArray();
  if (!recs.some((r) => r.generation === serving)) t.push([serving, 'serving (legacy)', ctx.env.redisPrefix, `${ctx.env.topicPrefix}.projector.${serving}`]);
  for (const r of recs) t.push([String(r.generation), String(r.state), String(r.redisPrefix), String(r.groupId)]);
  process.stdout.write(`serving: ${serving}${pointer ? ` (switched ${pointer.switchedAt.toISOString()} from ${pointer.previous ?? '-'})` : ' (no pointer yet: THREADLOG_GENERATION)'}\n${t.toString()}\n`);
  return 0;
}

export async function rebuildCommand(env: ThreadlogEnv, opts: RebuildCommandOptions): Promise<number> {
  const ctx = await openOpsContext(env, 'threadlog-rebuild');
  const say = (s: string): void => void process.stdout.write(`${s}\n`);
  try {
    if (opts.status) return await status(ctx);
    if (opts.abandon) {
      if (!opts.generation) throw new Error('--abandon needs --generation <name> (see --status)');
      const r = await dropGeneration(ctx, opts.generation);
      say(`abandoned ${opts.generation}: ${r.collections} collections, ${r.redisKeys} Redis keys and its consumer group dropped; the serving generation was not touched`);
      return 0;
    }
    const serving = await servingGeneration(ctx.meta, env.generation);
    const building = !(opts.dropOld && !opts.switch && !opts.resume && !opts.generation);
    if (building) {
      const generation = opts.generation ?? nextGenerationName(serving);
      const bar = opts.quiet ? undefined : new cliProgress.SingleBar({ format: `rebuild ${generation} |{bar}| {value}/{total} events | {rate} ev/s | lag {lag} | ETA {etaS} | {phase}`, stream: process.stderr }, cliProgress.Presets.shades_classic);
      const rebuild = await startRebuild({
        ctx,
        generation,
        resume: opts.resume ?? false,
        onProgress(p) {
          const payload = { rate: fmt(p.eventsPerSecond), lag: fmt(p.lag), etaS: p.etaSeconds === undefined ? '-' : `${Math.ceil(p.etaSeconds)}s`, phase: p.phase };
          if (!bar) return;
          if (bar.getTotal() === 0 && p.total > 0) bar.start(p.total, p.applied, payload);
          bar.setTotal(p.total);
          bar.update(p.applied, payload);
        },
      });
      const abort = new AbortController();
      opts.signal?.addEventListener('abort', () => abort.abort());
      const onSignal = (): void => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const started = performance.now();
        let done;
        try {
          done = await rebuild.caughtUp(abort.signal);
        } catch (e) {
          bar?.stop();
          await rebuild.stop();
          process.stderr.write(
            `threadlog rebuild: ${e instanceof Error ? e.message : String(e)}\n` +
              `continue with 'threadlog rebuild --generation ${generation} --resume', or drop it with 'threadlog rebuild --generation ${generation} --abandon'; ${serving} keeps serving\n`,
          );
          return 1;
        }
        bar?.stop();
        say(`${generation} caught up: ${fmt(done.applied)} events in ${((performance.now() - started) / 1000).toFixed(1)} s, lag ${done.lag}`);
        if (!opts.switch) {
          await rebuild.stop();
          say(`${serving} still serves. Switch with 'threadlog rebuild --generation ${generation} --resume --switch'`);
          return 0;
        }
        const previous = await switchGeneration(ctx, generation);
        say(`switched: ${generation} serves reads (was ${previous}); stores that are not pinned follow without restart`);
        if (opts.handOver !== false) {
          say(`start projectors with THREADLOG_GENERATION=${generation}; this process keeps projecting ${generation} until one joins group ${rebuild.record.groupId} (Ctrl-C: they continue from its committed offsets)`);
          await waitForHandOver(ctx, rebuild.record.groupId, 1_000, abort.signal);
        }
        await rebuild.stop();
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }
    if (opts.dropOld) {
      const pointer = await ctx.meta.getPointer();
      const old = pointer?.previous;
      if (old === undefined || old === pointer?.current) {
        say('no previous generation to drop');
        return 0;
      }
      const r = await dropGeneration(ctx, old);
      say(`dropped ${old}: ${r.collections} collections, ${r.redisKeys} Redis keys, its consumer group`);
    }
    return 0;
  } catch (e) {
    process.stderr.write(`threadlog rebuild: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    await ctx.close();
  }
}

export function registerRebuild(program: Command): void {
  program
    .command('rebuild')
    .description('build a new projection generation from the log (own consumer group and collections) while the current one serves; switch readers to it when caught up')
    .option('--generation <name>', 'the new generation (default: v<n+1> after v<n>)')
    .option('--resume', 'continue an interrupted rebuild of --generation (its consumer group continues)')
    .option('--abandon', "drop --generation's collections, consumer group and Redis keys (never the serving one)")
    .option('--switch', 'when caught up, point readers at the new generation (atomic; announced on Redis)')
    .option('--drop-old', 'drop the previous generation (after --switch, or alone later); its projectors must be stopped')
    .option('--no-hand-over', 'after --switch, exit at once instead of projecting until a projector of the new generation runs')
    .option('--status', 'show the serving generation and the generations built')
    .addHelpText('after', '\nTypical: threadlog rebuild --switch; then restart projectors with THREADLOG_GENERATION=<new>;\nlater threadlog rebuild --drop-old once the old projectors are stopped.')
    .action(async (o: RebuildCommandOptions) => {
      process.exitCode = await rebuildCommand(parseEnv(), o);
    });
}
