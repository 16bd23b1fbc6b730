/**
 * bench:rebuild — events/s of `threadlog rebuild` (src/ops/rebuild) from a pre-loaded log, into
 * projection layout 1 and layout 2 in the same run (medians of alternating repetitions), with
 * documents written per event (the projector's count) and CPU per event of the rebuild process,
 * FerretDB and PostgreSQL (/proc).
 *  1. append N events (bench/workload.ts: LangGraph-shaped checkpoints with growing message
 *     lists as append deltas, pending writes every 4th step) to a fresh topic;
 *  2. Kafka read + decode only: a consumer group that decodes every record and writes
 *     nothing — the ceiling the log side allows;
 *  3. the real rebuild: startRebuild() into a new generation until caught up (MongoDB bulk
 *     upserts + Redis heads/watermarks included).
 * The difference of 2 and 3 is the MongoDB/Redis side. Run: npm run bench:rebuild [-- --quick].
 * Writes bench/results/rebuild-<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Table from 'cli-table3';
import { parseEnv } from '../src/cli/env.ts';
import { createEventCodec } from '../src/events/codec.ts';
import { createAppender } from '../src/kafka/appender.ts';
import { checkpointsTopic, ensureTopics } from '../src/kafka/topics.ts';
import { openOpsContext } from '../src/ops/context.ts';
import { startRebuild } from '../src/ops/rebuild/rebuild.ts';
import { Registry } from 'prom-client';
import { cpuDelta, projectionServerPids, snapshot } from './suite/cpu.ts';
import { createWorkload } from './workload.ts';

const root = path.resolve(import.meta.dirname, '..');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const serverPids = (): Record<string, number[]> => projectionServerPids(root);

const quick = process.argv.includes('--quick');
const target = quick ? 20_000 : 200_000;
const threads = quick ? 400 : 2_000;
const reps = quick ? 2 : 3;
const prefix = `benchrb${Date.now().toString(36)}`;
const env = { ...parseEnv(), topicPrefix: prefix, mongoDb: prefix, redisPrefix: `${prefix}:` };
const topic = checkpointsTopic(prefix);
const progress = (msg: string): void => void process.stderr.write(`\r${msg.padEnd(100)}`);

async function main(): Promise<void> {
  const ctx = await openOpsContext(env, 'bench-rebuild');
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    await ensureTopics({ admin, prefix, partitions: env.partitions });
    // 1. the log
    const w = createWorkload({ threads, steps: Math.ceil(target / threads), threadPrefix: 'rb' });
    const appender = createAppender({ kafka: ctx.kafka, topic, partitions: env.partitions });
    let events = 0;
    let bytes = 0;
    const tLoad = performance.now();
    for (let s = 0; events < target; s++) {
      const batch = (await w.stepEvents(s)).slice(0, target - events);
      const recs = await Promise.all(batch.map((e) => w.codec.encode(e)));
      for (const r of recs) for (const x of r) bytes += x.value.length;
      await Promise.all(recs.map((r) => appender.append(r)));
      events += batch.length;
      progress(`loading the log: ${events}/${target} events`);
    }
    await appender.close();
    const loadS = (performance.now() - tLoad) / 1000;
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
    const records = [...ends.values()].reduce((a, b) => a + Number(b), 0);

    // 2. Kafka read + decode only
    const codec = createEventCodec();
    const consumer = ctx.kafka.consumer({ groupId: `${prefix}.decode-only`, maxBytesPerPartition: 8 * 1024 * 1024 });
    let decoded = 0;
    let decodeMs = 0;
    const seen = new Map<number, bigint>();
    const tRead = performance.now();
    const cpuRead = process.cpuUsage();
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        partitionsConsumedConcurrently: Math.min(8, env.partitions),
        eachBatch: async ({ batch }) => {
          const t = performance.now();
          for (const m of batch.messages) await codec.decode({ key: m.key, value: m.value, headers: m.headers ?? {} } as Parameters<typeof codec.decode>[0]);
          decodeMs += performance.now() - t;
          decoded += batch.messages.length;
          seen.set(batch.partition, BigInt(batch.lastOffset()) + 1n);
          progress(`read + decode: ${decoded}/${records}`);
          if ([...ends].every(([p, e]) => e === 0n || (seen.get(p) ?? 0n) >= e)) resolve();
        },
      });
    });
    await done;
    const readS = (performance.now() - tRead) / 1000;
    const readCpu = process.cpuUsage(cpuRead);
    const readCpuUsPerEvent = (readCpu.user + readCpu.system) / records;
    await consumer.disconnect();

    // 3. the real rebuild, into a layout-1 and a layout-2 generation (alternating, `reps` each)
    const rebuilds: Array<{ layout: 1 | 2; seconds: number; eventsPerSecond: number; documents: number; replaced: number; processUs: number; ferretdbUs: number; postgresUs: number }> = [];
    for (let rep = 0; rep < reps; rep++) {
      for (const layout of rep % 2 === 0 ? ([1, 2] as const) : ([2, 1] as const)) {
        const registry = new Registry();
        const servers = serverPids();
        const before = snapshot(servers);
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        const rebuild = await startRebuild({ ctx, generation: `bench${layout}r${rep}`, layout, registry, pollMs: 250, caughtUpLag: 0, stableChecks: 1, onProgress: (p) => progress(`rebuild, layout ${layout} (${rep + 1}/${reps}): ${p.applied}/${p.total} events, ${Math.round(p.eventsPerSecond)}/s`) });
        await rebuild.caughtUp();
        const seconds = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const servers2 = cpuDelta(before, snapshot(serverPids()));
        await rebuild.stop();
        const docs = await registry.getSingleMetric('threadlog_projector_documents_total')?.get();
        const count = (op: string): number => docs?.values.find((v) => v.labels.op === op)?.value ?? 0;
        rebuilds.push({
          layout,
          seconds,
          eventsPerSecond: records / seconds,
          documents: count('inserted') + count('replaced'),
          replaced: count('replaced'),
          processUs: ((cpu.user + cpu.system) / records),
          ferretdbUs: ((servers2.ferretdb ?? 0) * 1e6) / records,
          postgresUs: ((servers2.postgres ?? 0) * 1e6) / records,
        });
      }
    }
    process.stderr.write('\n');
    const med = (layout: 1 | 2, k: keyof (typeof rebuilds)[number]): number => median(rebuilds.filter((r) => r.layout === layout).map((r) => r[k] as number));

    const result = {
      when: new Date().toISOString(),
      quick,
      events: records,
      logBytes: bytes,
      threads,
      partitions: env.partitions,
      load: { seconds: loadS, eventsPerSecond: records / loadS },
      readDecode: { seconds: readS, eventsPerSecond: records / readS, cpuUsPerEvent: readCpuUsPerEvent, decodeBusySecondsSummedOverPartitions: decodeMs / 1000 },
      rebuild: Object.fromEntries(([1, 2] as const).map((l) => [`layout${l}`, { eventsPerSecond: med(l, 'eventsPerSecond'), documentsPerEvent: med(l, 'documents') / records, replacedPerEvent: med(l, 'replaced') / records, rebuildProcessUsPerEvent: med(l, 'processUs'), ferretdbUsPerEvent: med(l, 'ferretdbUs'), postgresUsPerEvent: med(l, 'postgresUs') }])),
      runs: rebuilds,
      target: { eventsPerSecond: 8_000, readDecodeEventsPerSecond: 50_000, met: med(2, 'eventsPerSecond') >= 8_000 },
    };
    const t = new Table({ head: ['phase', 'events/s', 'docs/event', 'replaced/event', 'rebuild CPU µs/event', 'FerretDB µs/event', 'PostgreSQL µs/event'] });
    t.push(['append (setup)', Math.round(records / loadS), '-', '-', '-', '-', '-'], ['Kafka read + decode only', Math.round(records / readS), '-', '-', Math.round(readCpuUsPerEvent), '-', '-']);
    for (const l of [1, 2] as const) {
      t.push([`rebuild, layout ${l} (median of ${reps})`, Math.round(med(l, 'eventsPerSecond')), (med(l, 'documents') / records).toFixed(2), (med(l, 'replaced') / records).toFixed(3), Math.round(med(l, 'processUs')), Math.round(med(l, 'ferretdbUs')), Math.round(med(l, 'postgresUs'))]);
    }
    process.stdout.write(`${t.toString()}\n${records} events; layout 2 / layout 1: ${(med(2, 'eventsPerSecond') / med(1, 'eventsPerSecond')).toFixed(2)}x events/s; target 8,000/s: ${result.target.met ? 'met' : 'NOT met'}\n`);
    const dir = path.resolve(import.meta.dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `rebuild-${result.when.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2));
    process.stdout.write(`${JSON.stringify(result)}\n${file}\n`);
  } finally {
    await admin.deleteTopics({ topics: [topic, `${prefix}.dead-letter`] }).catch(() => undefined);
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
    await admin.disconnect();
    await ctx.db.dropDatabase().catch(() => undefined);
    let cursor = '0';
    do {
      const [next, keys] = await ctx.redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await ctx.redis.del(...keys);
    } while (cursor !== '0');
    await ctx.close();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:rebuild: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
