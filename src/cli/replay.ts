/**
 * `threadlog replay <thread> --to <checkpoint|time>`: the thread's state at that point, rebuilt
 * from the log alone (works with no projection at all); `--into <thread>` writes it as the
 * first checkpoint (and pending writes) of a new thread.
 */
import { inspect } from 'node:util';
import { ThreadlogError } from '../errors.ts';
import { isThreadEnd } from '../events/types.ts';
import { createAppender } from '../kafka/appender.ts';
import { sealEvent } from '../crypto/seal.ts';
import { openThreadLog } from '../ops/open-log.ts';
import { forkEvents, replayThread } from '../ops/replay.ts';
import { threadKeysFromEnv } from './security.ts';
import { parseLogPoint } from '../ops/timeline.ts';
import { runCommand, serviceError, type Output } from './context.ts';
import type { ThreadlogEnv } from './env.ts';

export interface ReplayOptions {
  to: string;
  ns?: string;
  into?: string;
  json?: boolean;
}

export async function replayCommand(env: ThreadlogEnv, threadId: string, opts: ReplayOptions, io: Output): Promise<number> {
  return runCommand(env, io, async (ctx) => {
    const log = await ctx.readThread(threadId, io);
    // encrypted threads are opened with the master key from the environment; erased ones refused
    const keys = env.masterKey === undefined ? undefined : threadKeysFromEnv(env, await ctx.db());
    const events = await openThreadLog(threadId, log.events, keys);
    const state = await replayThread(events, parseLogPoint(opts.to), opts.ns ?? '', ctx.codec);
    let written: { threadId: string; receipts: Array<{ partition: number; offset: string }> } | undefined;
    if (opts.into !== undefined) {
      const into = opts.into;
      const existing = await ctx.readThread(into, io).catch((e: unknown) => {
        if (e instanceof ThreadlogError && e.code === 'not-found') return undefined;
        throw e;
      });
      const live = existing?.events.filter((e, i, all) => !all.slice(i).some((x) => isThreadEnd(x.event))) ?? [];
      if (live.length > 0) throw new ThreadlogError('invalid-options', `thread ${into} already has ${live.length} events in ${ctx.topic}; pick a new thread id for --into (or delete ${into} first)`);
      const admin = ctx.kafka().admin();
      let partitions: number;
      try {
        await admin.connect();
        partitions = (await admin.fetchTopicMetadata({ topics: [ctx.topic] })).topics[0]?.partitions.length ?? env.partitions;
      } catch (e) {
        throw serviceError('Kafka', env.kafkaBrokers.join(','), 'THREADLOG_KAFKA_BROKERS', e);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
      const appender = createAppender({ kafka: ctx.kafka(), topic: ctx.topic, partitions });
      try {
        const receipts = [];
        // in order: the checkpoint before its writes
        // with encryption on, the fork is sealed with its own thread's key like any new event
        const key = keys === undefined ? undefined : await keys.forWrite(into);
        for (const e of await forkEvents(state, into, ctx.codec)) receipts.push(await appender.append(await ctx.codec.encode(key === undefined ? e : sealEvent(e, key))));
        written = { threadId: into, receipts: receipts.map((r) => ({ partition: r.partition, offset: r.offset })) };
      } finally {
        await appender.close();
      }
    }
    if (opts.json) {
      io.out(JSON.stringify({ ...state, ...(written ? { written } : {}) }, null, 2) + '\n');
      return 0;
    }
    io.out(`${threadId} at checkpoint ${state.checkpointId} (namespace ${JSON.stringify(state.checkpointNs)}, log position ${state.position.partition}:${state.position.offset}, ${new Date(state.ts).toISOString()}), rebuilt from ${state.eventsRead} events of the log\n`);
    io.out(`parent: ${state.parentCheckpointId ?? '(none)'}\nmetadata: ${inspect(state.metadata, { depth: 6, colors: false })}\n`);
    io.out(`channel values:\n${inspect(state.checkpoint.channel_values, { depth: 6, colors: false, maxArrayLength: 200 })}\n`);
    io.out(`pending writes (${state.pendingWrites.length}):\n`);
    for (const w of state.pendingWrites) io.out(`  ${w.taskId} ${w.channel}: ${inspect(w.value, { depth: 4, colors: false, breakLength: Infinity })}\n`);
    if (written) io.out(`written as thread ${written.threadId} (${written.receipts.length} events, last at ${written.receipts.at(-1)?.partition}:${written.receipts.at(-1)?.offset})\n`);
    return 0;
  });
}
