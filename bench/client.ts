/**
 * bench:client — what the saver costs the agent process itself: the saver-level step loop
 * (latest getTuple, put of a growing message list, putWrites of two writes) with NO projector
 * running, so own reads come from the write-through record and nothing else competes for the
 * CPU except Kafka. ThreadlogSaver against MemorySaver (the baseline: the same LangGraph
 * serializer, no I/O) and ThreadlogSaver with encryption on (a data key per thread, every value
 * and the metadata sealed: README "Security"), interleaved repetitions in a rotating order
 * (a cell pays for the garbage the one before it left), same run.
 *
 * Run: npm run bench:client [-- --quick] [-- --pin]   (the local stack must run: npm run infra:up)
 * --threadlog-only: skip the MemorySaver cells (profiling: node --import tsx --cpu-prof bench/client.ts).
 * --pin: every repetition runs twice, shared (all cores for everyone) and pinned (this process
 * on core 0, the stack's servers on core 1: bench/suite/pin.ts), so both figures are reported.
 * --no-broker (diagnostic, never a result): the store's producer acknowledges every batch at
 * once without sending it (topics are still created on the real Kafka), so the table splits the
 * saver's CPU into its own code and what kafkajs and the socket add (the difference to a run
 * without the flag).
 * Env: THREADLOG_KAFKA_BROKERS / _MONGO_URL / _REDIS_URL (default: the local stack).
 * Output: a table (medians and spread of the repetitions; CPU µs per step of this process from
 * /proc, and of the servers), bench/results/client-<timestamp>.json.
 * Removes the topics and keys it created.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import Table from 'cli-table3';
import { MemorySaver, uuid6, type BaseCheckpointSaver, type Checkpoint } from '@langchain/langgraph-checkpoint';
import { parseEnv } from '../src/cli/env.ts';
import { removeBenchData } from './suite/cleanup.ts';
import { createCheckpointStore, createLocalKeyProvider, ThreadlogSaver } from '../src/index.ts';
import { createKafkaClient } from '../src/kafka/client.ts';
import type { Kafka, Producer, ProducerBatch, RecordMetadata } from 'kafkajs';
import { cpuDelta, projectionServerPids, snapshot, stackPids } from './suite/cpu.ts';
import { checkPinnable, pin } from './suite/pin.ts';

const quick = process.argv.includes('--quick');
const REPS = quick ? 1 : 3;
const pinMode = process.argv.includes('--pin');
const MODES = pinMode ? (['shared', 'pinned'] as const) : (['shared'] as const);
type Mode = (typeof MODES)[number];
// --threadlog-only: no MemorySaver cells, for a CPU profile of the saver alone
const ALL = ['ThreadlogSaver', 'ThreadlogSaver+encryption', 'MemorySaver'] as const;
type Label = (typeof ALL)[number];
const SAVERS: readonly Label[] = process.argv.includes('--threadlog-only') ? ['ThreadlogSaver'] : ALL;
const SIZES = quick ? [{ threads: 10, steps: 30 }, { threads: 100, steps: 10 }] : [{ threads: 10, steps: 100 }, { threads: 100, steps: 30 }];
const noBroker = process.argv.includes('--no-broker');
const env = parseEnv();
const root = path.resolve(import.meta.dirname, '..');
const prefix = `benchcli${Date.now().toString(36)}`;

interface Cell {
  saver: Label;
  mode: Mode;
  threads: number;
  steps: number;
  rep: number;
  stepsPerSec: number;
  cpuMsPerStep: number;
  /** CPU ms per step of the local stack's servers during the cell (shared with the machine) */
  serversCpuMsPerStep: number;
  getTuple: { p50: number; p99: number };
  put: { p50: number; p99: number };
  putWrites: { p50: number; p99: number };
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? 0;
};
const median = (xs: number[]): number => quantile(xs, 0.5);
const cfg = (t: string, c?: string) => ({ configurable: c ? { thread_id: t, checkpoint_ns: '', checkpoint_id: c } : { thread_id: t, checkpoint_ns: '' } });

const servers = (): Record<string, number[]> => ({ ...stackPids(root), ...projectionServerPids(root) });

async function loop(saver: BaseCheckpointSaver, label: Cell['saver'], mode: Mode, threads: number, steps: number, rep: number, tag: string): Promise<Cell> {
  const lat = { get: [] as number[], put: [] as number[], pw: [] as number[] };
  const pinning = mode === 'pinned' ? pin([process.pid], Object.values(servers()).flat()) : undefined;
  const srv0 = snapshot(servers());
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: threads }, async (_, i) => {
      const t = `${tag}-${i}`;
      for (let n = 1; n <= steps; n++) {
        let s = performance.now();
        const tuple = await saver.getTuple(cfg(t));
        lat.get.push(performance.now() - s);
        const prev = tuple?.checkpoint;
        const messages = (prev?.channel_values.messages as unknown[] | undefined) ?? [];
        if (messages.length !== n - 1) throw new Error(`${label}: thread ${t} step ${n} read ${messages.length} messages`);
        const versions = { ...(prev?.channel_versions ?? {}) };
        const newVersions = { messages: saver.getNextVersion(versions.messages as number | undefined), step: saver.getNextVersion(versions.step as number | undefined) };
        const checkpoint: Checkpoint = {
          v: 4,
          id: uuid6(-1),
          ts: new Date().toISOString(),
          channel_values: { messages: [...messages, { role: n % 2 ? 'user' : 'ai', content: `step ${n} of ${t}: ${'the agent summarized the tool output. '.repeat(10)}` }], step: n },
          channel_versions: { ...versions, ...newVersions },
          versions_seen: { agent: { messages: versions.messages ?? 0 } },
        };
        s = performance.now();
        const next = await saver.put(cfg(t, prev?.id), checkpoint, { source: 'loop', step: n, parents: {} }, newVersions);
        lat.put.push(performance.now() - s);
        s = performance.now();
        await saver.putWrites(next, [['messages', [{ role: 'ai', content: 'ok' }]], ['step', n]], `task-${n}`);
        lat.pw.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const srv = Object.values(cpuDelta(srv0, snapshot(servers()))).reduce((a, b) => a + b, 0);
  pinning?.restore();
  const q = (xs: number[]) => ({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99) });
  const n = threads * steps;
  return { saver: label, mode, threads, steps, rep, stepsPerSec: n / seconds, cpuMsPerStep: (cpu.user + cpu.system) / 1000 / n, serversCpuMsPerStep: (srv * 1000) / n, getTuple: q(lat.get), put: q(lat.put), putWrites: q(lat.pw) };
}

/**
 * --no-broker: a Kafka client whose producers answer every sendBatch at once with made-up
 * offsets (nothing is sent); admin and everything else is the real client.
 */
function withoutBroker(kafka: Kafka): Kafka {
  let offset = 0;
  const producer = (): Producer =>
    ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      sendBatch: async (batch: ProducerBatch): Promise<RecordMetadata[]> =>
        (batch.topicMessages ?? []).flatMap(({ topic, messages }) =>
          [...new Set(messages.map((m) => m.partition!))].map((partition) => ({ topicName: topic, partition, errorCode: 0, baseOffset: String((offset += messages.length)) })),
        ),
    }) as unknown as Producer;
  return new Proxy(kafka, { get: (target, key) => (key === 'producer' ? producer : Reflect.get(target, key)) });
}

async function main(): Promise<void> {
  if (pinMode) checkPinnable();
  const options = {
    kafka: noBroker ? withoutBroker(createKafkaClient({ brokers: env.kafkaBrokers })) : { brokers: env.kafkaBrokers },
    mongo: { url: env.mongoUrl },
    redis: { url: env.redisUrl },
    dbName: prefix,
    topicPrefix: prefix,
    redisKeyPrefix: `${prefix}:`,
    partitions: env.partitions,
  };
  const store = await createCheckpointStore(options);
  const encrypted = await createCheckpointStore({ ...options, encryption: { keyProvider: createLocalKeyProvider(randomBytes(32)) } });
  const saverFor = (label: Label): BaseCheckpointSaver =>
    label === 'ThreadlogSaver' ? new ThreadlogSaver({ store }) : label === 'ThreadlogSaver+encryption' ? new ThreadlogSaver({ store: encrypted }) : new MemorySaver();
  const cells: Cell[] = [];
  try {
    // warm-up: JIT, connections, the topic's leaders
    for (const label of SAVERS) await loop(saverFor(label), label, 'shared', 20, 10, 0, `warm-${ALL.indexOf(label)}`);
    for (let rep = 1; rep <= REPS; rep++) {
      for (const mode of MODES) {
        for (const { threads, steps } of SIZES) {
          for (const label of SAVERS.map((_, i) => SAVERS[(i + rep - 1) % SAVERS.length]!)) {
            const cell = await loop(saverFor(label), label, mode, threads, steps, rep, `r${rep}-${mode}-${threads}-${ALL.indexOf(label)}`);
            cells.push(cell);
            process.stderr.write(`rep ${rep} ${mode} ${label} ${threads}x${steps}: ${cell.stepsPerSec.toFixed(0)} steps/s, ${(cell.cpuMsPerStep * 1000).toFixed(0)} µs CPU/step (servers ${(cell.serversCpuMsPerStep * 1000).toFixed(0)} µs)\n`);
          }
        }
      }
    }
  } finally {
    await store.close();
    await encrypted.close();
    await removeBenchData(env, prefix, 'bench-client');
  }

  const table = new Table({ head: ['threads × steps', 'cores', 'saver', 'steps/s (median; reps)', 'CPU µs/step', 'servers CPU µs/step', 'getTuple p50/p99 ms', 'put p50/p99 ms', 'putWrites p50/p99 ms', 'steps/s ÷ Memory', 'CPU ÷ Memory'] });
  const rows: Array<Record<string, unknown>> = [];
  for (const mode of MODES) {
    for (const { threads, steps } of SIZES) {
      const of = (label: Cell['saver']) => cells.filter((c) => c.saver === label && c.threads === threads && c.mode === mode);
      const memory = median(of('MemorySaver').map((c) => c.stepsPerSec));
      const memoryCpu = median(of('MemorySaver').map((c) => c.cpuMsPerStep));
      // --threadlog-only runs no MemorySaver cells: no baseline, no ratio (not "Infinityx")
      const hasBaseline = of('MemorySaver').length > 0;
      const ratio = (x: number, base: number): number | null => (hasBaseline ? x / base : null);
      const shown = (r: number | null): string => (r === null ? '—' : `${r.toFixed(2)}x`);
      for (const label of SAVERS) {
        const cs = of(label);
        const sps = median(cs.map((c) => c.stepsPerSec));
        const cpu = median(cs.map((c) => c.cpuMsPerStep));
        const f = (k: 'getTuple' | 'put' | 'putWrites') => `${median(cs.map((c) => c[k].p50)).toFixed(2)} / ${median(cs.map((c) => c[k].p99)).toFixed(2)}`;
        table.push([`${threads} × ${steps}`, mode, label, `${sps.toFixed(0)} (${cs.map((c) => c.stepsPerSec.toFixed(0)).join(', ')})`, (cpu * 1000).toFixed(0), (median(cs.map((c) => c.serversCpuMsPerStep)) * 1000).toFixed(0), f('getTuple'), f('put'), f('putWrites'), shown(ratio(sps, memory)), shown(ratio(cpu, memoryCpu))]);
        rows.push({ mode, threads, steps, saver: label, stepsPerSec: sps, cpuMsPerStep: cpu, ratioToMemory: ratio(sps, memory), cpuRatioToMemory: ratio(cpu, memoryCpu) });
      }
    }
  }
  console.log(table.toString());
  // what encryption costs the agent process: CPU per step, encrypted ÷ plain, per size and cores
  const encryption = SAVERS.includes('ThreadlogSaver+encryption')
    ? MODES.flatMap((mode) =>
        SIZES.map(({ threads, steps }) => {
          const cpu = (label: Label) => median(cells.filter((c) => c.saver === label && c.threads === threads && c.mode === mode).map((c) => c.cpuMsPerStep));
          const sps = (label: Label) => median(cells.filter((c) => c.saver === label && c.threads === threads && c.mode === mode).map((c) => c.stepsPerSec));
          return { mode, threads, steps, cpuMsPerStepPlain: cpu('ThreadlogSaver'), cpuMsPerStepEncrypted: cpu('ThreadlogSaver+encryption'), cpuRatio: cpu('ThreadlogSaver+encryption') / cpu('ThreadlogSaver'), stepsPerSecRatio: sps('ThreadlogSaver+encryption') / sps('ThreadlogSaver') };
        }),
      )
    : [];
  for (const e of encryption) console.log(`encryption, ${e.mode}, ${e.threads} × ${e.steps}: CPU per step ×${e.cpuRatio.toFixed(3)} (${e.cpuMsPerStepPlain.toFixed(3)} → ${e.cpuMsPerStepEncrypted.toFixed(3)} ms), steps/s ×${e.stepsPerSecRatio.toFixed(3)}`);
  const dir = path.join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `client-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ quick, pin: pinMode, noBroker, reps: REPS, machine: { cpus: cpus().length, model: cpus()[0]?.model }, summary: rows, encryption, cells, at: new Date().toISOString() }, null, 1));
  console.log(`written ${path.relative(root, file)}`);
}

await main();
