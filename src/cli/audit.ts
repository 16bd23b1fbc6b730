/**
 * `threadlog audit <thread> | --all`: re-reads threads from Kafka, recomputes their hash
 * chains and the documents they should have produced, compares with the projection. Exit 0
 * when clean, 1 on any divergence (the first one named with its log position).
 */
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { ThreadlogError } from '../errors.ts';
import { readThreadLogs } from '../kafka/thread-reader.ts';
import type { AuditReport } from '../ops/audit.ts';
import { createAuditor } from '../ops/auditor.ts';
import { runCommand, serviceError, type Output } from './context.ts';
import type { ThreadlogEnv } from './env.ts';

export interface AuditOptions {
  all?: boolean;
  json?: boolean;
  /** threads read from the log at once with --all */
  batch?: number;
}

function print(io: Output, reports: AuditReport[]): void {
  const table = new Table({ head: ['thread', 'events', 'audited', 'pending', 'docs', 'pruned', 'deltas', 'result'] });
  for (const r of reports) {
    const f = r.first;
    const broken = r.assembly.problems[0];
    const result = f
      ? `${f.kind.toUpperCase()} at ${f.position.partition}:${f.position.offset}`
      : broken
        ? `BROKEN CHAIN at ${broken.position.partition}:${broken.position.offset}`
        : 'ok';
    table.push([r.threadId, r.events, r.audited, r.notYetProjected, r.documents, r.pruned, r.assembly.deltas, result]);
  }
  io.out(table.toString() + '\n');
  for (const r of reports) {
    const problems = r.assembly.problems;
    if (problems.length > 0) {
      const b = problems[0]!;
      io.out(
        `\n${r.threadId}: ${r.assembly.brokenCheckpoints} of ${r.assembly.checkpoints} checkpoints cannot be assembled from the log; first at ${b.position.partition}:${b.position.offset} (checkpoint ${b.checkpointId}${b.checkpointNs ? `, ns ${b.checkpointNs}` : ''})\n  ${b.message}\n` +
          `  reads of these checkpoints fail with broken-delta-chain; see docs/operations.md "Broken delta chains"\n`,
      );
      if (problems.length > 1) io.out(`  and ${problems.length - 1} more (--json lists them)\n`);
    }
    if (!r.first) continue;
    io.out(`\n${r.threadId}: first divergence (${r.first.kind}) at log position ${r.first.position.partition}:${r.first.position.offset}\n  ${r.first.message}\n`);
    if (r.divergences.length > 1) io.out(`  and ${r.divergences.length - 1} more (--json lists them)\n`);
  }
}

export async function auditCommand(env: ThreadlogEnv, threadId: string | undefined, opts: AuditOptions, io: Output): Promise<number> {
  return runCommand(env, io, async (ctx) => {
    if ((threadId === undefined) === !opts.all) throw new ThreadlogError('invalid-options', 'pass a thread id or --all (not both)');
    const projection = await ctx.projection();
    const applied = await projection.getAppliedOffsets(ctx.topic);
    const db = await ctx.db();
    const auditor = createAuditor(db, env.generation, await projection.resolveLayout());
    const reports: AuditReport[] = [];
    if (threadId !== undefined) {
      const log = await ctx.readThread(threadId, io);
      reports.push(await auditor.audit(threadId, log, applied));
    } else {
      const threads: string[] = [];
      for await (const t of auditor.listThreads()) threads.push(t);
      if (threads.length === 0) {
        throw new ThreadlogError('not-found', `generation ${env.generation} in ${env.mongoDb} has no projected threads; check THREADLOG_GENERATION / THREADLOG_MONGO_DB, or run a projector`);
      }
      const bar = io.progress ? new cliProgress.SingleBar({ format: 'audit {bar} {value}/{total} threads', stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
      bar?.start(threads.length, 0);
      const size = opts.batch ?? 200;
      try {
        for (let i = 0; i < threads.length; i += size) {
          const group = threads.slice(i, i + size);
          const logs = await readThreadLogs({ kafka: ctx.kafka(), topic: ctx.topic, threadIds: group, codec: ctx.codec }).catch((e: unknown) => {
            throw serviceError('Kafka', env.kafkaBrokers.join(','), 'THREADLOG_KAFKA_BROKERS', e);
          });
          const rs = await Promise.all(group.map((t, j) => auditor.audit(t, logs[j]!, applied)));
          reports.push(...rs);
          bar?.update(reports.length);
        }
      } finally {
        bar?.stop();
      }
    }
    const bad = reports.filter((r) => !r.ok);
    if (opts.json) io.out(JSON.stringify(threadId === undefined ? { generation: env.generation, threads: reports.length, divergent: bad.length, reports } : reports[0], null, 2) + '\n');
    else {
      // with --all only the divergent threads get a row
      print(io, opts.all ? bad : reports);
      if (opts.all) io.out(`${reports.length} threads audited, ${bad.length} divergent\n`);
    }
    return bad.length === 0 ? 0 : 1;
  });
}
