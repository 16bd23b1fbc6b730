/**
 * `threadlog lag`: per partition, the log end offset, the projector group's committed offset,
 * the projection's applied offset (its watermark in MongoDB) and the lag.
 */
import Table from 'cli-table3';
import { groupLag, type GroupPartitionLag } from '../kafka/group-lag.ts';
import { isThreadlogError } from '../errors.ts';
import { runCommand, serviceError, type Output } from './context.ts';
import type { ThreadlogEnv } from './env.ts';

export interface LagRow extends GroupPartitionLag {
  /** highest offset the projection applied (MongoDB); undefined: none */
  applied: string | undefined;
}

export interface LagReport {
  topic: string;
  groupId: string;
  generation: string;
  partitions: LagRow[];
  total: number;
}

export const projectorGroupId = (env: ThreadlogEnv): string => `${env.topicPrefix}.projector.${env.generation}`;

export async function lagCommand(env: ThreadlogEnv, opts: { json?: boolean }, io: Output): Promise<number> {
  return runCommand(env, io, async (ctx) => {
    const groupId = projectorGroupId(env);
    const admin = ctx.kafka().admin();
    let rows: GroupPartitionLag[];
    try {
      await admin.connect();
      rows = await groupLag(admin, ctx.topic, groupId);
    } catch (e) {
      if (isThreadlogError(e, 'not-found')) throw e;
      throw serviceError('Kafka', env.kafkaBrokers.join(','), 'THREADLOG_KAFKA_BROKERS', e);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const applied = await (await ctx.projection()).getAppliedOffsets(ctx.topic);
    const report: LagReport = {
      topic: ctx.topic,
      groupId,
      generation: env.generation,
      partitions: rows.map((r) => ({ ...r, applied: applied.get(r.partition) })),
      total: rows.reduce((n, r) => n + r.lag, 0),
    };
    if (opts.json) {
      io.out(JSON.stringify(report, null, 2) + '\n');
      return 0;
    }
    const table = new Table({ head: ['partition', 'log end', 'committed', 'applied (MongoDB)', 'lag'] });
    for (const r of report.partitions) table.push([r.partition, r.end, r.committed ?? '-', r.applied ?? '-', r.lag]);
    io.out(`${report.topic}, projector group ${groupId} (generation ${env.generation})\n${table.toString()}\ntotal lag: ${report.total}\n`);
    if (rows.every((r) => r.committed === undefined) && rows.some((r) => r.end !== '0')) {
      io.err(`no offsets committed by ${groupId}: is a projector running? start one with 'threadlog projector'\n`);
    }
    return 0;
  });
}
