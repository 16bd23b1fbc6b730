/**
 * Write path: the batching appender against one kafkajs send() per save, same producer
 * settings (idempotent, acks=-1, maxInFlightRequests 1), same broker, same run.
 *
 *   (1) saves/s, p50 and p99 save latency at concurrency 1, 64, 1024 for checkpoints of
 *       1 KiB, 16 KiB and 256 KiB (serialized channel values of realistic JSON chat state,
 *       encoded by src/events/codec.ts: envelope + value-level zstd + CRC, chunked if big);
 *   (2) batch-level ZSTD (kafkajs record batches, our codec) vs value-level zstd (the event
 *       codec) vs none, for 1 KiB and 16 KiB checkpoints at concurrency 64: throughput and
 *       the bytes that reach the broker.
 * Each cell runs BENCH_REPS times (default 3), interleaved; medians are reported.
 *
 * Run: npm run bench:write   (the local stack must run: npm run infra:up)
 * Env: THREADLOG_KAFKA_BROKERS (default 127.0.0.1:19092), BENCH_REPS, BENCH_SECONDS (per run,
 *      default 1.5), BENCH_LINGER_MS (appender linger, default the appender's default).
 * Output: a table on stdout, bench/results/write-<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { CompressionTypes, Partitioners, type Producer } from 'kafkajs';
import { createKafkaClient } from '../src/kafka/client.ts';
import { ensureTopics } from '../src/kafka/topics.ts';
import { createAppender, defaultAppenderOptions, recordBytes, type AppendRecord } from '../src/kafka/appender.ts';
import { registerZstdCodec } from '../src/kafka/zstd-codec.ts';
import { createEventCodec } from '../src/events/codec.ts';
import type { CheckpointEvent } from '../src/events/types.ts';

const brokers = (process.env.THREADLOG_KAFKA_BROKERS ?? `127.0.0.1:${process.env.THREADLOG_KAFKA_PORT ?? '19092'}`).split(',');
const REPS = Number(process.env.BENCH_REPS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5);
const LINGER = process.env.BENCH_LINGER_MS === undefined ? defaultAppenderOptions.lingerMs : Number(process.env.BENCH_LINGER_MS);
const PARTITIONS = 12;
const SIZES = [1024, 16 * 1024, 256 * 1024];
const CONCURRENCY = [1, 64, 1024];
const ROOT = path.resolve(import.meta.dirname, '..');

// ---------------------------------------------------------------- realistic checkpoints
const words = (
  'the a to of and in is for that you it on with as this be are can if we will by from or ' +
  'tool call result search weather forecast user assistant message function arguments query ' +
  'answer summary document page section table value error retry latency token model agent ' +
  'graph node edge state channel checkpoint thread memory context prompt response stream ' +
  'kafka mongo redis partition offset consumer producer batch event log projection cache ' +
  'please thanks sure here is what found about your question yesterday today tomorrow city'
).split(' ');
let seed = 42;
const rnd = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};
const sentence = (n: number): string => Array.from({ length: n }, () => words[rnd(words.length)]).join(' ');

/** LangGraph-like `messages` channel value of about `bytes` bytes of JSON. */
function chatState(bytes: number): string {
  const messages: unknown[] = [];
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const m =
      i % 3 === 2
        ? { lc: 1, type: 'constructor', id: ['langchain_core', 'messages', 'ToolMessage'], kwargs: { content: sentence(20 + rnd(60)), tool_call_id: randomUUID(), name: 'search', id: randomUUID() } }
        : {
            lc: 1,
            type: 'constructor',
            id: ['langchain_core', 'messages', i % 3 === 0 ? 'HumanMessage' : 'AIMessage'],
            kwargs: { content: sentence(10 + rnd(80)), id: randomUUID(), additional_kwargs: {}, response_metadata: i % 3 === 1 ? { model: 'gpt-4o', tokens: rnd(4000) } : {} },
          };
    const s = JSON.stringify(m);
    messages.push(m);
    size += s.length + 1;
  }
  return JSON.stringify(messages);
}

function checkpointEvent(threadId: string, bytes: number, step: number): CheckpointEvent {
  const id = randomUUID();
  return {
    type: 'checkpoint',
    eventId: randomUUID(),
    threadId,
    ts: Date.now(),
    checkpointNs: '',
    checkpointId: id,
    parentCheckpointId: randomUUID(),
    checkpoint: { v: 4, id, ts: new Date().toISOString(), channel_versions: { messages: step }, versions_seen: { agent: { messages: step - 1 } } },
    metadata: { source: 'loop', step, parents: {} },
    values: [{ kind: 'snapshot', channel: 'messages', version: step, value: { type: 'json', value: Buffer.from(chatState(bytes)) } }],
  };
}

async function eventPool(size: number, count: number, compressionThreshold?: number): Promise<AppendRecord[][]> {
  const codec = createEventCodec(compressionThreshold === undefined ? {} : { compressionThreshold });
  const pool: AppendRecord[][] = [];
  for (let i = 0; i < count; i++) pool.push(await codec.encode(checkpointEvent(`bench-thread-${i}`, size, i + 1)));
  return pool;
}

// ---------------------------------------------------------------- one measured run
interface RunResult {
  saves: number;
  savesPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

type Save = (records: AppendRecord[]) => Promise<unknown>;

async function measure(save: Save, pool: AppendRecord[][], concurrency: number, seconds: number): Promise<RunResult> {
  const latencies: number[] = [];
  let measuring = false;
  let stop = false;
  const worker = async (w: number): Promise<void> => {
    const records = pool[w % pool.length]!;
    while (!stop) {
      const t0 = performance.now();
      await save(records);
      if (measuring) latencies.push(performance.now() - t0);
    }
  };
  const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, 300)); // warm-up: connections, metadata, JIT
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - start) / 1000;
  stop = true;
  await Promise.all(workers);
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { saves: latencies.length, savesPerSec: latencies.length / elapsed, p50Ms: pct(0.5), p99Ms: pct(0.99) };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function summarize(runs: RunResult[]): RunResult & { reps: number } {
  return {
    reps: runs.length,
    saves: median(runs.map((r) => r.saves)),
    savesPerSec: median(runs.map((r) => r.savesPerSec)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
  };
}

// ---------------------------------------------------------------- main
async function main(): Promise<void> {
  const started = Date.now();
  const kafka = createKafkaClient({ brokers, clientId: 'threadlog-bench' });
  const admin = kafka.admin();
  await admin.connect();
  const prefix = `bench-write-${Date.now().toString(36)}`;
  const topics: string[] = [];
  const producers: Producer[] = [];
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  let compressedIn = 0;
  let compressedOut = 0;
  registerZstdCodec({ onCompress: (i, o) => ((compressedIn += i), (compressedOut += o)) });

  try {
    const { checkpoints } = await ensureTopics({ admin, prefix, partitions: PARTITIONS });
    topics.push(checkpoints.topic, `${prefix}.dead-letter`);
    const topic = checkpoints.topic;
    const baselineProducer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
    await baselineProducer.connect();
    producers.push(baselineProducer);
    const baseline: Save = (records) => baselineProducer.send({ topic, acks: -1, messages: records });
    const appender = createAppender({ kafka, topic, partitions: PARTITIONS, lingerMs: LINGER });
    const appended: Save = (records) => appender.append(records);

    log(`encoding checkpoint pools with src/events/codec.ts (real checkpoint events, value-level zstd)…`);
    const pools = new Map<number, AppendRecord[][]>();
    const wire = new Map<number, number>();
    for (const size of SIZES) {
      const pool = await eventPool(size, size >= 256 * 1024 ? 64 : 256);
      pools.set(size, pool);
      wire.set(size, median(pool.map((recs) => recs.reduce((n, r) => n + recordBytes(r), 0))));
    }

    // (1) appender vs baseline
    const cells: Array<{ size: number; concurrency: number; mode: 'appender' | 'baseline' }> = [];
    for (const size of SIZES) for (const concurrency of CONCURRENCY) for (const mode of ['appender', 'baseline'] as const) cells.push({ size, concurrency, mode });
    const compressionCells = [1024, 16 * 1024].flatMap((size) => (['value-zstd', 'batch-zstd', 'none'] as const).map((kind) => ({ size, kind })));
    const total = (cells.length + compressionCells.length) * REPS;
    let done = 0;
    const runs = new Map<string, RunResult[]>();
    for (let rep = 0; rep < REPS; rep++) {
      for (const c of cells) {
        const r = await measure(c.mode === 'appender' ? appended : baseline, pools.get(c.size)!, c.concurrency, SECONDS);
        const k = `${c.size}/${c.concurrency}/${c.mode}`;
        runs.set(k, [...(runs.get(k) ?? []), r]);
        done++;
        log(`[${done}/${total}] ${(c.size / 1024).toString().padStart(3)} KiB c=${String(c.concurrency).padEnd(4)} ${c.mode.padEnd(8)} rep ${rep + 1}: ${Math.round(r.savesPerSec).toLocaleString('en')} saves/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms  (${Math.round((Date.now() - started) / 1000)} s)`);
      }
    }
    await appender.close();

    // (2) where to compress
    const compPools = new Map<string, AppendRecord[][]>();
    for (const size of [1024, 16 * 1024]) {
      compPools.set(`${size}/value`, pools.get(size)!);
      compPools.set(`${size}/raw`, await eventPool(size, 256, Number.POSITIVE_INFINITY));
    }
    const compRuns = new Map<string, Array<RunResult & { wireBytesPerSave: number }>>();
    for (let rep = 0; rep < REPS; rep++) {
      for (const c of compressionCells) {
        const a = createAppender({ kafka, topic, partitions: PARTITIONS, lingerMs: LINGER, compression: c.kind === 'batch-zstd' ? CompressionTypes.ZSTD : CompressionTypes.None });
        let rawBytes = 0;
        const pool = compPools.get(`${c.size}/${c.kind === 'value-zstd' ? 'value' : 'raw'}`)!;
        compressedIn = 0;
        compressedOut = 0;
        const r = await measure((recs) => ((rawBytes += recs.reduce((n, x) => n + recordBytes(x), 0)), a.append(recs)), pool, 64, SECONDS);
        await a.close();
        // batch-zstd: what the codec produced; otherwise the records as sent
        const bytes = c.kind === 'batch-zstd' && compressedIn > 0 ? (rawBytes * compressedOut) / compressedIn : rawBytes;
        const wireBytesPerSave = bytes / Math.max(1, r.saves + 1);
        const k = `${c.size}/${c.kind}`;
        compRuns.set(k, [...(compRuns.get(k) ?? []), { ...r, wireBytesPerSave }]);
        done++;
        log(`[${done}/${total}] ${(c.size / 1024).toString().padStart(3)} KiB c=64   ${c.kind.padEnd(10)} rep ${rep + 1}: ${Math.round(r.savesPerSec).toLocaleString('en')} saves/s, ~${Math.round(wireBytesPerSave)} B/save`);
      }
    }

    // ---------------------------------------------------------------- report
    const rows = [];
    for (const size of SIZES) {
      for (const concurrency of CONCURRENCY) {
        const a = summarize(runs.get(`${size}/${concurrency}/appender`)!);
        const b = summarize(runs.get(`${size}/${concurrency}/baseline`)!);
        rows.push({ checkpointBytes: size, recordBytes: wire.get(size)!, concurrency, appender: a, baseline: b, throughputRatio: a.savesPerSec / b.savesPerSec, p50DeltaMs: a.p50Ms - b.p50Ms });
      }
    }
    const compression = compressionCells.map((c) => {
      const rs = compRuns.get(`${c.size}/${c.kind}`)!;
      return { checkpointBytes: c.size, kind: c.kind, ...summarize(rs), wireBytesPerSave: median(rs.map((r) => r.wireBytesPerSave)) };
    });

    const f = (n: number, d = 0): string => n.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
    console.log(`\nWrite path, ${REPS} reps × ${SECONDS}s per cell, medians. Payloads: real checkpoint events from src/events/codec.ts.`);
    console.log('| checkpoint | record B | conc | appender saves/s | p50 ms | p99 ms | baseline saves/s | p50 ms | p99 ms | ratio | Δp50 ms |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      console.log(`| ${r.checkpointBytes / 1024} KiB | ${f(r.recordBytes)} | ${r.concurrency} | ${f(r.appender.savesPerSec)} | ${f(r.appender.p50Ms, 2)} | ${f(r.appender.p99Ms, 2)} | ${f(r.baseline.savesPerSec)} | ${f(r.baseline.p50Ms, 2)} | ${f(r.baseline.p99Ms, 2)} | ${f(r.throughputRatio, 1)}× | ${f(r.p50DeltaMs, 2)} |`);
    }
    console.log('\nWhere to compress (appender, concurrency 64):');
    console.log('| checkpoint | compression | saves/s | p50 ms | p99 ms | bytes/save to broker |');
    console.log('|---:|---|---:|---:|---:|---:|');
    for (const c of compression) console.log(`| ${c.checkpointBytes / 1024} KiB | ${c.kind} | ${f(c.savesPerSec)} | ${f(c.p50Ms, 2)} | ${f(c.p99Ms, 2)} | ${f(c.wireBytesPerSave)} |`);

    const t1 = rows.find((r) => r.checkpointBytes === 1024 && r.concurrency === 1024)!;
    const t2 = rows.find((r) => r.checkpointBytes === 1024 && r.concurrency === 1)!;
    const targets = {
      throughput1KiBc1024: { ratio: t1.throughputRatio, target: 10, met: t1.throughputRatio >= 10 },
      p50DeltaC1: { deltaMs: t2.p50DeltaMs, target: 2, met: t2.p50DeltaMs <= 2 },
    };
    console.log(`\ntargets: 1 KiB c=1024 ≥10× baseline: ${f(t1.throughputRatio, 1)}× ${targets.throughput1KiBc1024.met ? 'met' : 'MISSED'}; c=1 p50 within 2 ms: Δ ${f(t2.p50DeltaMs, 2)} ms ${targets.p50DeltaC1.met ? 'met' : 'MISSED'}`);

    const outDir = path.join(ROOT, 'bench/results');
    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, `write-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      file,
      JSON.stringify(
        {
          when: new Date().toISOString(),
          host: { hostname: hostname(), cpus: cpus().length, node: process.version },
          settings: { brokers, reps: REPS, secondsPerRun: SECONDS, partitions: PARTITIONS, lingerMs: LINGER, payload: 'real checkpoint events (src/events/codec.ts)' },
          rows,
          compression,
          targets,
          durationSeconds: (Date.now() - started) / 1000,
        },
        null,
        2,
      ),
    );
    console.log(`\nwritten ${path.relative(ROOT, file)} in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    await Promise.all(producers.map((p) => p.disconnect()));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 }).catch(() => undefined);
    await admin.disconnect();
  }
}

await main();
