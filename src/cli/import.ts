/**
 * `threadlog import --from mongodb|postgres|sqlite <url|file>`: copy the checkpoints and
 * pending writes another LangGraph saver stored into the log (src/ops/import). Resumable and
 * idempotent; ends with a count check against the source, non-zero exit on a mismatch.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { createEventCodec } from '../events/codec.ts';
import { createDeltaEncoder } from '../events/deltas.ts';
import { createAppender } from '../kafka/appender.ts';
import { checkpointsTopic } from '../kafka/topics.ts';
import { openOpsContext } from '../ops/context.ts';
import { runImport, type ImportResult } from '../ops/import/importer.ts';
import { openSource, sourceKinds, type SourceKind } from '../ops/import/sources.ts';
import { parseEnv, type ThreadlogEnv } from './env.ts';

export interface ImportCommandOptions {
  from: string;
  threads?: string[];
  dryRun?: boolean;
  sourceDb?: string;
  sourceSchema?: string;
  concurrency?: number;
  verifyTimeoutMs?: number;
  json?: boolean;
  /** no progress bar (tests, pipes) */
  quiet?: boolean;
}

export async function importCommand(env: ThreadlogEnv, location: string, opts: ImportCommandOptions): Promise<number> {
  if (!sourceKinds.includes(opts.from as SourceKind)) {
    process.stderr.write(`threadlog import: --from must be one of ${sourceKinds.join(', ')} (got ${JSON.stringify(opts.from)})\n`);
    return 2;
  }
  const source = await openSource({
    kind: opts.from as SourceKind,
    location,
    ...(opts.sourceDb === undefined ? {} : { mongoDbName: opts.sourceDb }),
    ...(opts.sourceSchema === undefined ? {} : { postgresSchema: opts.sourceSchema }),
  });
  const ctx = await openOpsContext(env, 'threadlog-import');
  const appender = createAppender({ kafka: ctx.kafka, topic: checkpointsTopic(env.topicPrefix), partitions: env.partitions });
  const bar = opts.quiet || opts.json ? undefined : new cliProgress.SingleBar({ format: 'import |{bar}| {value}/{total} threads | {cps} checkpoints, {ws} writes appended | ETA {eta_formatted}', stream: process.stderr }, cliProgress.Presets.shades_classic);
  let result: ImportResult;
  try {
    const store = await ctx.openStore();
    const codec = createEventCodec();
    result = await runImport({
      source,
      codec,
      deltas: createDeltaEncoder(),
      appender,
      store,
      meta: ctx.meta,
      ...(opts.threads === undefined ? {} : { threads: opts.threads }),
      dryRun: opts.dryRun ?? false,
      ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
      ...(opts.verifyTimeoutMs === undefined ? {} : { readTimeoutMs: opts.verifyTimeoutMs }),
      onStart: (n) => bar?.start(n, 0, { cps: 0, ws: 0 }),
      onThread: (done, c) => bar?.update(done, { cps: c.appendedCheckpoints, ws: c.appendedWrites }),
    });
  } catch (e) {
    bar?.stop();
    const msg = e instanceof Error ? e.message : String(e);
    const hint = /stale-read|did not catch up|timed out/i.test(msg) || (e as { code?: string }).code === 'stale-read'
      ? `\nthe projection did not catch up in time: is a projector running for the serving generation ('threadlog projector')? Raise --verify-timeout for large imports.`
      : '';
    process.stderr.write(`threadlog import: ${msg}${hint}\nrerun the same command to continue: what was imported is skipped.\n`);
    return 1;
  } finally {
    bar?.stop();
    await appender.close();
    await source.close();
    await ctx.close();
  }
  const c = result.counts;
  if (opts.json) process.stdout.write(JSON.stringify({ source: source.label, ...result }, null, 2) + '\n');
  else {
    const t = new Table({ head: ['', 'threads', 'checkpoints', 'pending writes'] });
    t.push(
      ['in the source', c.threads, c.sourceCheckpoints, c.sourceWrites],
      [opts.dryRun ? 'would append' : 'appended now', c.threads - c.skippedThreads, c.appendedCheckpoints, c.appendedWrites],
      ['imported before', c.skippedThreads, c.skippedCheckpoints, c.skippedWrites],
    );
    process.stdout.write(`import from ${source.label}${opts.dryRun ? ' (dry run: nothing written)' : ''}\n${t.toString()}\n`);
    if (result.verified) process.stdout.write(result.mismatches.length === 0 ? `verified: every thread has as many checkpoints and pending writes as in the source\n` : '');
  }
  if (opts.dryRun) {
    if (!opts.json) process.stdout.write(`dry run: ${c.threads - c.skippedThreads} thread(s) would be imported; rerun without --dry-run\n`);
    return 0;
  }
  if (result.mismatches.length > 0) {
    for (const m of result.mismatches.slice(0, 20)) {
      process.stderr.write(`mismatch ${m.threadId}: source ${m.source.checkpoints} checkpoints/${m.source.writes} writes, threadlog ${m.imported.checkpoints}/${m.imported.writes}\n`);
    }
    process.stderr.write(`threadlog import: ${result.mismatches.length} thread(s) differ from the source — run 'threadlog audit <thread>' on one, or rerun the import to append what is missing\n`);
    return 1;
  }
  return 0;
}

const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter((s) => s !== '');
const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${v}'`);
  return n;
};

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('import the checkpoints and pending writes of another LangGraph saver (MongoDBSaver, PostgresSaver, SqliteSaver) into the log; resumable, idempotent, verified')
    .argument('<source>', 'mongodb://host/db URL, postgres://user@host/db URL, or a SQLite file')
    .requiredOption('--from <kind>', 'the saver that wrote the source: mongodb | postgres | sqlite')
    .option('--threads <ids>', 'only these thread ids, comma-separated', list)
    .option('--dry-run', 'read and count, append nothing')
    .option('--source-db <name>', 'MongoDB source: database when the URL names none')
    .option('--source-schema <name>', 'PostgreSQL source: schema of the saver tables', 'public')
    .option('--concurrency <n>', 'threads imported at once', int, 4)
    .option('--verify-timeout <ms>', 'bound on waiting for the projection to reflect the import', int, 60_000)
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nA rerun continues where an interrupted one stopped and appends nothing twice.\nThe count check needs a projector running for the serving generation (threadlog projector).')
    .action(async (source: string, o: { from: string; threads?: string[]; dryRun?: boolean; sourceDb?: string; sourceSchema?: string; concurrency: number; verifyTimeout: number; json?: boolean }) => {
      process.exitCode = await importCommand(parseEnv(), source, { ...o, verifyTimeoutMs: o.verifyTimeout });
    });
}
