/** `threadlog timeline <thread>`: the thread's events in log order, read from Kafka (not the projection). */
import Table from 'cli-table3';
import { erasureRow, parseLogPoint, selectEvents, timelineRow } from '../ops/timeline.ts';
import { runCommand, type Output } from './context.ts';
import type { ThreadlogEnv } from './env.ts';

export interface TimelineOptions {
  ns?: string;
  from?: string;
  to?: string;
  json?: boolean;
}

const short = (s: string | undefined, n = 13): string => (s === undefined ? '' : s.length > n ? `…${s.slice(-n)}` : s);

export async function timelineCommand(env: ThreadlogEnv, threadId: string, opts: TimelineOptions, io: Output): Promise<number> {
  return runCommand(env, io, async (ctx) => {
    const log = await ctx.readThread(threadId, io);
    const events = selectEvents(log.events, {
      ...(opts.ns === undefined ? {} : { ns: opts.ns }),
      ...(opts.from === undefined ? {} : { from: parseLogPoint(opts.from) }),
      ...(opts.to === undefined ? {} : { to: parseLogPoint(opts.to) }),
    });
    const rows = events.map(timelineRow);
    const erased = erasureRow(log.events);
    if (opts.json) {
      io.out(JSON.stringify({ threadId, topic: log.topic, partition: log.partition, endOffset: log.endOffset, ...(erased ? { erased } : {}), events: rows, unreadable: log.unreadable }, null, 2) + '\n');
      return 0;
    }
    const table = new Table({ head: ['time', 'event', 'ns', 'checkpoint', 'parent', 'step', 'source', 'channels written', 'pending writes', 'bytes', 'offset'] });
    for (const r of rows) {
      table.push([
        r.time.replace('T', ' ').replace('Z', ''),
        r.type,
        r.checkpointNs ?? '',
        short(r.checkpointId),
        short(r.parentCheckpointId),
        r.sealed ? '(sealed)' : (r.step ?? ''),
        r.sealed ? '(sealed)' : (r.source ?? ''),
        r.channels.join(', '),
        r.writes.join(', '),
        r.bytes,
        `${r.partition}:${r.offset}`,
      ]);
    }
    io.out(`${threadId}: ${rows.length} of ${log.events.length} events, ${log.topic} partition ${log.partition}\n`);
    if (erased) io.out(`ERASED at ${erased.time} (event at ${erased.partition}:${erased.offset}): its key is destroyed, only ids, times and sizes remain\n`);
    io.out(`${table.toString()}\n`);
    for (const u of log.unreadable) io.err(`unreadable record at offset ${u.offset}: ${u.reason}: ${u.message}\n`);
    return 0;
  });
}
