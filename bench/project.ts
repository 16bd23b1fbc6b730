/**
 * bench:project — the projector's work, projection layout 1 (the layout before projection v2)
 * against layout 2 (one document per event) in the same run, on the local stack:
 *  1. throughput and work per event: a pre-loaded log of saver-level steps (a checkpoint and a
 *     task's pending writes per step; bench/workload.ts) projected by one projector process
 *     (consumers/projector.ts) per layout into a fresh generation, `reps` times each,
 *     alternating: events/s, documents written per event and per step (inserted, replaced
 *     under a guard — the projector's own count), projector CPU µs per event and FerretDB and
 *     PostgreSQL CPU µs per event (utime+stime from /proc), documents and BSON bytes left;
 *  2. visibility lag: a steady save rate over many threads (save acknowledged → its
 *     partition's watermark covers it), per layout;
 *  3. storage: bytes per saver-level step for threads of 50, 200 and 1,000 steps, and beside
 *     MongoDBSaver (put + putWrites per step) on the same FerretDB at 50 and 200 steps;
 *     finds a cold latest read (L1 and Redis empty) sends to MongoDB.
 * Medians (and p99 of the lag) over repetitions; ratios are within this run. Run:
 * npm run bench:project [-- --quick]. Writes bench/results/project-<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Table from 'cli-table3';
import { BSON, MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import { MongoDBSaver } from '@langchain/langgraph-checkpoint-mongodb';
import { parseEnv } from '../src/cli/env.ts';
import { createKafkaClient } from '../src/kafka/client.ts';
import { createAppender } from '../src/kafka/appender.ts';
import { checkpointsTopic, ensureTopics } from '../src/kafka/topics.ts';
import { createRedisCache } from '../src/redis/cache.ts';
import { createCheckpointStore } from '../src/store/checkpoint-store.ts';
import { cpuDelta, projectionServerPids, snapshot, type CpuSnapshot } from './suite/cpu.ts';
import { startProjector, type ProjectorProcess } from './suite/projector-process.ts';
import { checkpointIdFor, createWorkload } from './workload.ts';

const quick = process.argv.includes('--quick');
const size = quick
  ? { threads: 200, steps: 20, reps: 3, vis: { threads: 500, rate: 500, seconds: 10 }, lengths: [50, 200, 1_000], storageThreads: 2, saverLengths: [50, 200] }
  : { threads: 1_000, steps: 40, reps: 5, vis: { threads: 500, rate: 500, seconds: 30 }, lengths: [50, 200, 1_000], storageThreads: 4, saverLengths: [50, 200] };
const env = parseEnv();
const root = path.resolve(import.meta.dirname, '..');
const ns = `benchproj${Date.now().toString(36)}`;
const PARTITIONS = env.partitions;
const progress = (msg: string): void => void process.stderr.write(`\r${msg.padEnd(110)}`);
const layouts = [1, 2] as const;

const kafka = createKafkaClient({ brokers: env.kafkaBrokers, clientId: 'bench-project' });
const admin = kafka.admin();
const mongo = new MongoClient(env.mongoUrl);
const redis = new Redis(env.redisUrl);
const topics: string[] = [];
const running = new Set<ProjectorProcess>();

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const serverPids = (): Record<string, number[]> => projectionServerPids(root);

async function projector(prefix: string, generation: string, layout: 1 | 2): Promise<ProjectorProcess> {
  const p = await startProjector({
    root,
    ns: prefix,
    brokers: env.kafkaBrokers,
    mongoUrl: env.mongoUrl,
    redisUrl: env.redisUrl,
    partitions: PARTITIONS,
    env: { THREADLOG_GENERATION: generation, THREADLOG_PROJECTION_LAYOUT: String(layout), THREADLOG_REDIS_PREFIX: `${prefix}:${generation}:` },
  });
  running.add(p);
  return p;
}

async function stop(p: ProjectorProcess): Promise<void> {
  await p.stop();
  running.delete(p);
}

async function endOffsets(topic: string): Promise<Map<number, bigint>> {
  return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
}

async function waitProjected(topic: string, prefix: string, generation: string, what: string): Promise<void> {
  const target = await endOffsets(topic);
  const cache = createRedisCache({ redis, prefix: `${prefix}:${generation}:` });
  for (;;) {
    const wm = await cache.getWatermarks(topic);
    let behind = 0n;
    for (const [p, end] of target) if (end > 0n) behind += end - 1n - BigInt(wm.get(p) ?? '-1');
    progress(`${what}: ${behind} records behind`);
    if (behind <= 0n) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function preload(prefix: string, o: { threads: number; steps: number; threadPrefix: string }): Promise<{ topic: string; events: number }> {
  await ensureTopics({ admin, prefix, partitions: PARTITIONS });
  const topic = checkpointsTopic(prefix);
  topics.push(topic, `${prefix}.dead-letter`);
  const appender = createAppender({ kafka, topic, partitions: PARTITIONS });
  const w = createWorkload({ ...o, writesEvery: 1, messageChars: 400 });
  let events = 0;
  for (let step = 0; step < o.steps; step++) {
    const batch = await w.stepEvents(step);
    const encoded = await Promise.all(batch.map((e) => w.codec.encode(e)));
    await Promise.all(encoded.map((r) => appender.append(r)));
    events += batch.length;
    progress(`pre-load ${prefix}: ${events} events (step ${step + 1}/${o.steps})`);
  }
  await appender.close();
  return { topic, events };
}

/** documents and BSON bytes of a generation (every collection it has) */
async function stored(db: string, generation: string): Promise<{ documents: number; bytes: number }> {
  let documents = 0;
  let bytes = 0;
  for (const c of await mongo.db(db).listCollections({}, { nameOnly: true }).toArray()) {
    if (!c.name.startsWith(`${generation}_`) || c.name.endsWith('_offsets') || c.name.endsWith('_problems')) continue;
    for await (const d of mongo.db(db).collection(c.name).find({})) {
      documents += 1;
      bytes += BSON.calculateObjectSize(d);
    }
  }
  return { documents, bytes };
}

interface Run {
  layout: 1 | 2;
  eventsPerSecond: number;
  inserted: number;
  replaced: number;
  projectorUs: number;
  ferretdbUs: number;
  postgresUs: number;
}

async function throughputRun(topic: string, events: number, layout: 1 | 2, rep: number): Promise<Run> {
  const generation = `l${layout}r${rep}`;
  const p = await projector(ns, generation, layout);
  const servers = serverPids();
  const before: CpuSnapshot = snapshot({ ...servers, projector: [p.pid] });
  const t0 = performance.now();
  await waitProjected(topic, ns, generation, `layout ${layout}, run ${rep + 1}/${size.reps}`);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuDelta(before, snapshot({ ...serverPids(), projector: [p.pid] }));
  const m = await p.metrics();
  await stop(p);
  const us = (s: number | undefined): number => ((s ?? 0) * 1e6) / events;
  return {
    layout,
    eventsPerSecond: events / seconds,
    inserted: m?.documents.inserted ?? Number.NaN,
    replaced: m?.documents.replaced ?? Number.NaN,
    projectorUs: us(cpu.projector),
    ferretdbUs: us(cpu.ferretdb),
    postgresUs: us(cpu.postgres),
  };
}

interface Visibility {
  p50: number;
  p99: number;
  saves: number;
  achievedRate: number;
  /** steady state, one checkpoint event per save: documents the projector wrote per save */
  documentsWrittenPerSave: number;
  replacedPerSave: number;
  projectorUsPerEvent: number;
  ferretdbUsPerEvent: number;
  postgresUsPerEvent: number;
}

async function visibility(layout: 1 | 2): Promise<Visibility> {
  const prefix = `${ns}v${layout}`;
  await ensureTopics({ admin, prefix, partitions: PARTITIONS });
  const topic = checkpointsTopic(prefix);
  topics.push(topic, `${prefix}.dead-letter`);
  const p = await projector(prefix, 'live', layout);
  const cache = createRedisCache({ redis, prefix: `${prefix}:live:` });
  const waiting = new Map<number, Array<{ offset: bigint; t0: number }>>();
  const lags: number[] = [];
  const sub = await cache.subscribeWatermarks(topic, (w) => {
    const list = waiting.get(w.partition) ?? [];
    const now = performance.now();
    while (list.length > 0 && list[0]!.offset <= BigInt(w.offset)) lags.push(now - list.shift()!.t0);
  });
  const appender = createAppender({ kafka, topic, partitions: PARTITIONS });
  const { threads, rate, seconds } = size.vis;
  const before: CpuSnapshot = snapshot({ ...serverPids(), projector: [p.pid] });
  const w = createWorkload({ threads, steps: Math.ceil((rate * seconds) / threads), messageChars: 400, writesEvery: 0, threadPrefix: 'live' });
  const start = performance.now();
  let saves = 0;
  let step = 0;
  let pending: Awaited<ReturnType<typeof w.stepEvents>> = [];
  for (let tick = 0; tick < seconds * 20; tick++) {
    const at = start + tick * 50;
    if (performance.now() < at) await new Promise((r) => setTimeout(r, at - performance.now()));
    // rate/20 saves per 50 ms tick, thread after thread, step after step
    for (let k = 0; k < rate / 20; k++) {
      if (pending.length === 0) pending = await w.stepEvents(step++);
      const e = pending.shift()!;
      const t0 = performance.now();
      void w.codec.encode(e).then((recs) => appender.append(recs)).then((receipt) => {
        const list = waiting.get(receipt.partition) ?? [];
        list.push({ offset: BigInt(receipt.offset), t0 });
        list.sort((a, b) => (a.offset < b.offset ? -1 : 1));
        waiting.set(receipt.partition, list);
      });
      saves++;
    }
    if (tick % 20 === 19) progress(`layout ${layout} steady load: ${saves} saves, ${lags.length} visible`);
  }
  const achievedRate = saves / ((performance.now() - start) / 1000);
  const deadline = Date.now() + 60_000;
  while (lags.length < saves && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const cpu = cpuDelta(before, snapshot({ ...serverPids(), projector: [p.pid] }));
  const m = await p.metrics();
  await appender.close();
  await sub.close();
  await stop(p);
  lags.sort((a, b) => a - b);
  const q = (x: number): number => lags[Math.min(lags.length - 1, Math.floor(x * lags.length))] ?? Number.NaN;
  const us = (sec: number | undefined): number => ((sec ?? 0) * 1e6) / saves;
  return {
    p50: q(0.5),
    p99: q(0.99),
    saves: lags.length,
    achievedRate,
    documentsWrittenPerSave: m ? (m.documents.inserted + m.documents.replaced) / saves : Number.NaN,
    replacedPerSave: m ? m.documents.replaced / saves : Number.NaN,
    projectorUsPerEvent: us(cpu.projector),
    ferretdbUsPerEvent: us(cpu.ferretdb),
    postgresUsPerEvent: us(cpu.postgres),
  };
}

/** bytes per saver-level step of `steps`-step threads, and the MongoDB finds of a cold latest read */
async function storage(steps: number, layout: 1 | 2): Promise<{ bytesPerStep: number; documentsPerStep: number; coldReadFinds: number }> {
  const prefix = `${ns}s${steps}l${layout}`;
  const { topic } = await preload(prefix, { threads: size.storageThreads, steps, threadPrefix: 's' });
  const generation = 'g';
  const p = await projector(prefix, generation, layout);
  await waitProjected(topic, prefix, generation, `storage ${steps} steps, layout ${layout}`);
  await stop(p);
  const s = await stored(prefix, generation);
  // a cold read: a fresh store without Redis (L1 empty), counting the finds it sends
  const client = new MongoClient(env.mongoUrl, { monitorCommands: true });
  let finds = 0;
  client.on('commandStarted', (c) => void (c.commandName === 'find' && (finds += 1)));
  await client.connect();
  const store = await createCheckpointStore({ kafka: { brokers: env.kafkaBrokers }, mongo: client.db(prefix), redis: false, topicPrefix: prefix, partitions: PARTITIONS, generation, ensureTopics: false, consistency: 'eventual' });
  finds = 0;
  await store.load({ threadId: 's-0' });
  const coldReadFinds = finds;
  await store.close();
  await client.close();
  return { bytesPerStep: s.bytes / (size.storageThreads * steps), documentsPerStep: s.documents / (size.storageThreads * steps), coldReadFinds };
}

async function mongodbSaverBytes(steps: number): Promise<number> {
  const dbName = `${ns}_saver${steps}`;
  const saver = new MongoDBSaver({ client: mongo, dbName });
  for (let t = 0; t < size.storageThreads; t++) {
    const messages: unknown[] = [];
    for (let step = 0; step < steps; step++) {
      progress(`MongoDBSaver ${steps} steps: thread ${t + 1}, step ${step + 1}`);
      messages.push({ role: 'user', content: `question ${step}` }, { role: 'ai', content: 'x'.repeat(400) });
      const id = checkpointIdFor(step);
      const config = await saver.put(
        { configurable: { thread_id: `s-${t}`, checkpoint_ns: '', ...(step > 0 ? { checkpoint_id: checkpointIdFor(step - 1) } : {}) } },
        { v: 4, id, ts: new Date().toISOString(), channel_values: { messages, step }, channel_versions: { messages: step + 1, step: step + 1 }, versions_seen: {} },
        { source: 'loop', step, parents: {} },
      );
      await saver.putWrites(config, [['messages', [{ role: 'ai', content: 'y'.repeat(80) }]]], `task-${step}`);
    }
  }
  let bytes = 0;
  for (const c of ['checkpoints', 'checkpoint_writes']) for await (const d of mongo.db(dbName).collection(c).find({})) bytes += BSON.calculateObjectSize(d);
  await mongo.db(dbName).dropDatabase().catch(() => undefined);
  return bytes / (size.storageThreads * steps);
}

async function main(): Promise<void> {
  await admin.connect();
  await mongo.connect();
  const { topic, events } = await preload(ns, { threads: size.threads, steps: size.steps, threadPrefix: 't' });
  const steps = size.threads * size.steps;

  const runs: Run[] = [];
  for (let rep = 0; rep < size.reps; rep++) for (const layout of rep % 2 === 0 ? layouts : [...layouts].reverse()) runs.push(await throughputRun(topic, events, layout, rep));
  const left = Object.fromEntries(await Promise.all(layouts.map(async (l) => [l, await stored(ns, `l${l}r0`)] as const)));
  // one layout at a time: two steady loads at once would measure the machine, not the layout
  const vis: Record<number, Visibility> = {};
  for (const l of layouts) vis[l] = await visibility(l);
  const store: Record<string, Record<number, Awaited<ReturnType<typeof storage>>>> = { 1: {}, 2: {} };
  for (const steps2 of size.lengths) for (const l of layouts) store[l]![steps2] = await storage(steps2, l);
  const saver: Record<number, number> = {};
  for (const steps2 of size.saverLengths) saver[steps2] = await mongodbSaverBytes(steps2);
  process.stderr.write('\n');

  const per = (l: 1 | 2) => {
    const r = runs.filter((x) => x.layout === l);
    return {
      eventsPerSecond: median(r.map((x) => x.eventsPerSecond)),
      documentsWrittenPerStep: median(r.map((x) => (x.inserted + x.replaced) / steps)),
      replacedPerStep: median(r.map((x) => x.replaced / steps)),
      documentsWrittenPerEvent: median(r.map((x) => (x.inserted + x.replaced) / events)),
      projectorUsPerEvent: median(r.map((x) => x.projectorUs)),
      ferretdbUsPerEvent: median(r.map((x) => x.ferretdbUs)),
      postgresUsPerEvent: median(r.map((x) => x.postgresUs)),
      documentsLeftPerStep: left[l]!.documents / steps,
      bytesLeftPerStep: left[l]!.bytes / steps,
      visibility: vis[l]!,
      storage: store[l]!,
    };
  };
  const result = {
    when: new Date().toISOString(),
    quick,
    size,
    partitions: PARTITIONS,
    events,
    stepsPerRun: steps,
    layout1: per(1),
    layout2: per(2),
    mongodbSaverBytesPerStep: saver,
    runs,
  };
  const [a, b] = [result.layout1, result.layout2];
  const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const t = new Table({ head: ['', 'layout 1', 'layout 2', '2 / 1'] });
  const row = (name: string, x: number, y: number, d = 0): void => void t.push([name, fmt(x, d), fmt(y, d), fmt(y / x, 2)]);
  row('events/s (1 projector, median)', a.eventsPerSecond, b.eventsPerSecond);
  row('documents written per step', a.documentsWrittenPerStep, b.documentsWrittenPerStep, 2);
  row('  of them guarded replacements', a.replacedPerStep, b.replacedPerStep, 2);
  row('documents left per step', a.documentsLeftPerStep, b.documentsLeftPerStep, 2);
  row('projector CPU µs/event', a.projectorUsPerEvent, b.projectorUsPerEvent);
  row('FerretDB CPU µs/event', a.ferretdbUsPerEvent, b.ferretdbUsPerEvent);
  row('PostgreSQL CPU µs/event', a.postgresUsPerEvent, b.postgresUsPerEvent);
  row(`visibility p50 ms @${fmt(b.visibility.achievedRate)}/s, ${size.vis.threads} threads`, a.visibility.p50, b.visibility.p50);
  row('visibility p99 ms', a.visibility.p99, b.visibility.p99);
  row('  steady load: documents written per save', a.visibility.documentsWrittenPerSave, b.visibility.documentsWrittenPerSave, 2);
  row('  steady load: guarded replacements per save', a.visibility.replacedPerSave, b.visibility.replacedPerSave, 2);
  row('  steady load: projector CPU µs/event', a.visibility.projectorUsPerEvent, b.visibility.projectorUsPerEvent);
  row('  steady load: FerretDB + PostgreSQL CPU µs/event', a.visibility.ferretdbUsPerEvent + a.visibility.postgresUsPerEvent, b.visibility.ferretdbUsPerEvent + b.visibility.postgresUsPerEvent);
  for (const n of size.lengths) {
    row(`bytes/step, ${n}-step threads`, a.storage[n]!.bytesPerStep, b.storage[n]!.bytesPerStep);
    row(`  cold latest read: MongoDB finds`, a.storage[n]!.coldReadFinds, b.storage[n]!.coldReadFinds);
  }
  process.stdout.write(`${t.toString()}\n`);
  for (const n of size.saverLengths) {
    process.stdout.write(`MongoDBSaver ${n} steps: ${fmt(saver[n]!)} bytes/step; layout 2 is ${fmt((100 * b.storage[n]!.bytesPerStep) / saver[n]!, 1)} % of it, layout 1 ${fmt((100 * a.storage[n]!.bytesPerStep) / saver[n]!, 1)} %\n`);
  }
  const dir = path.join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `project-${result.when.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`written ${file}\n`);
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`\nbench:project failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await Promise.all([...running].map((p) => p.stop()));
    await admin.deleteTopics({ topics }).catch(() => undefined);
    const groups = (await admin.listGroups().catch(() => ({ groups: [] }))).groups.map((g) => g.groupId).filter((g) => g.startsWith(ns));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
    for (const d of (await mongo.db().admin().listDatabases().catch(() => ({ databases: [] }))).databases) {
      if (d.name.startsWith(ns)) await mongo.db(d.name).dropDatabase().catch(() => undefined);
    }
    await admin.disconnect();
    await mongo.close();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  });
