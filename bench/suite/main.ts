/**
 * `npm run bench` — ThreadlogSaver against the LangGraph savers users would pick instead
 * (MemorySaver, SqliteSaver, PostgresSaver, MongoDBSaver), same machine, same run:
 * a graph fleet (real StateGraph agents through the LangGraph runtime) and saver-level calls,
 * at several fleet sizes; storage per step; charts.
 *
 * Run: npm run bench [-- --quick] [-- --pin]   (the local stack must run: npm run infra:up)
 * --pin: every timed cell runs twice, shared cores and pinned (the client worker on core 0,
 * the servers and the projector on core 1: pin.ts); both figures are reported.
 * Env: THREADLOG_KAFKA_BROKERS / _MONGO_URL / _REDIS_URL (default: the local stack),
 *      BENCH_PG_URL (default: a throwaway cluster on 127.0.0.1:15433), BENCH_SAVERS
 *      (comma list, default all), BENCH_WORKLOADS (graph,saver,bytes; default all), BENCH_REPS, BENCH_CPU_PROF=<saver> (cpu-profile its workers
 *      into .local/bench-prof).
 * Output: tables on stdout, bench/results/<date>-suite-<mode>.json, docs/img/bench-*.png and
 * the generated block of docs/BENCHMARKS.md. Every database, topic, group, key, file and
 * server it creates is removed at the end.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { aggregate, evaluateTargets } from './aggregate.ts';
import { renderChart, saverColors, type Panel } from './charts.ts';
import { ferretDb } from './ferretdb.ts';
import { checkPinnable } from './pin.ts';
import { cellsOf, makePlan } from './plan.ts';
import { startPostgres } from './postgres.ts';
import { tables, targetsTable, writeDocBlock } from './report.ts';
import type { Shared } from './resources.ts';
import { runCell, type Endpoints } from './run-cell.ts';
import { saverLabels, type CellResult } from './types.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const env = process.env;
// mongoUrl may be replaced by a private FerretDB's when the stack's does not answer
const endpoints: Endpoints = {
  brokers: (env.THREADLOG_KAFKA_BROKERS ?? `127.0.0.1:${env.THREADLOG_KAFKA_PORT ?? '19092'}`).split(','),
  mongoUrl: env.THREADLOG_MONGO_URL ?? `mongodb://127.0.0.1:${env.THREADLOG_MONGO_PORT ?? '27018'}/`,
  redisUrl: env.THREADLOG_REDIS_URL ?? `redis://127.0.0.1:${env.THREADLOG_REDIS_PORT ?? '16379'}`,
  partitions: 12,
};
const log = (s: string): void => void process.stderr.write(`${s}\n`);
const pkgVersion = (name: string): string => {
  try {
    return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
};

const git = (...args: string[]): string => {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
};

function kafkaLogDirs(): string[] {
  if (!endpoints.brokers.every((b) => b.startsWith('127.0.0.1:') || b.startsWith('localhost:'))) return [];
  const data = path.join(env.THREADLOG_LOCAL_DIR ?? path.join(ROOT, '.local'), 'data');
  try {
    return readdirSync(data).filter((d) => d.startsWith('kafka-')).map((d) => path.join(data, d));
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  const plan = makePlan(process.argv.slice(2), env);
  if (plan.pin) checkPinnable();
  const cells = cellsOf(plan);
  const runId = `bs${Date.now().toString(36)}`;
  const started = Date.now();
  const loadBefore = loadavg();
  log(`bench suite (${plan.mode}): ${cells.length} cells, savers ${plan.savers.map((s) => saverLabels[s]).join(', ')}; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);

  const ferret = await ferretDb(ROOT, endpoints.mongoUrl, log);
  endpoints.mongoUrl = ferret.url;
  const mongo = new MongoClient(endpoints.mongoUrl); // no compression: FerretDB
  await mongo.connect();
  const redis = new Redis(endpoints.redisUrl);
  const admin = new Kafka({ brokers: endpoints.brokers, clientId: 'bench-suite', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const pg = plan.savers.includes('postgres') ? await startPostgres(ROOT, log) : undefined;
  const shared: Shared = { root: ROOT, mongo, redis, admin, pg, kafkaLogDirs: kafkaLogDirs(), ferretPid: ferret.pid };
  // Ctrl-C / SIGTERM: remove the servers this run started (cells remove their own data)
  const onSignal = (): void => {
    log('interrupted: stopping the servers this run started');
    void Promise.allSettled([pg?.stop(), ferret.stop()]).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const versions = {
    node: process.version,
    '@langchain/langgraph': pkgVersion('@langchain/langgraph'),
    '@langchain/langgraph-checkpoint': pkgVersion('@langchain/langgraph-checkpoint'),
    '@langchain/langgraph-checkpoint-mongodb': pkgVersion('@langchain/langgraph-checkpoint-mongodb'),
    '@langchain/langgraph-checkpoint-postgres': pkgVersion('@langchain/langgraph-checkpoint-postgres'),
    '@langchain/langgraph-checkpoint-sqlite': pkgVersion('@langchain/langgraph-checkpoint-sqlite'),
    'better-sqlite3': pkgVersion('better-sqlite3'),
    postgresql: pg?.version ?? 'n/a',
    ferretdbServer: ferret.origin,
    ferretdb: String(((await mongo.db('admin').command({ buildInfo: 1 })) as { ferretdbVersion?: string; version?: string }).ferretdbVersion ?? 'n/a'),
    redis: /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?',
    kafka: shared.kafkaLogDirs.map((d) => path.basename(d).replace('kafka-', '')).join(',') || '?',
    // the tree under test: other work may land while a run goes on (each cell loads src anew)
    threadlog: `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', 'src', 'consumers') ? ' + uncommitted src changes' : ''}`,
  };

  const bars = new cliProgress.MultiBar(
    { format: '{bar} {percentage}% | {value}/{total} {label}', hideCursor: true, clearOnComplete: false, stream: process.stderr, noTTYOutput: true, notTTYSchedule: 10_000 },
    cliProgress.Presets.shades_classic,
  );
  const overall = bars.create(cells.length, 0, { label: 'cells' });
  const current = bars.create(1, 0, { label: '' });
  const results: CellResult[] = [];
  try {
    for (const [i, spec] of cells.entries()) {
      const label = `${saverLabels[spec.saver]} ${spec.workload} ${spec.threads}×${spec.steps} rep ${spec.rep} (${Math.round((Date.now() - started) / 1000)} s)`;
      current.setTotal(spec.threads * spec.steps);
      current.update(0, { label });
      overall.update(i, { label: 'cells' });
      const r = await runCell(shared, endpoints, spec, `${runId}c${i}`, plan.killAfterSeconds, (done, total) => {
        current.setTotal(total);
        current.update(done, { label });
      });
      results.push(r);
      bars.log(
        r.error
          ? `${label}: FAILED ${r.error.split('\n')[0]}\n`
          : `${label}: ${r.opsPerSec.toFixed(1)} ${spec.workload === 'graph' ? 'turns' : 'steps'}/s${r.capped ? ' (capped)' : ''}${r.getTuple ? `, getTuple p99 ${r.getTuple.p99.toFixed(2)} ms` : ''}, peak RSS ${Math.round(r.peakRssBytes / 2 ** 20)} MiB\n`,
      );
    }
    overall.update(cells.length);
  } finally {
    bars.stop();
    await pg?.stop();
    // consumer groups a cell could not delete right after its projector left
    await admin
      .listGroups()
      .then(({ groups }) => groups.map((g) => g.groupId).filter((g) => g.startsWith(runId)))
      .then((mine) => (mine.length > 0 ? admin.deleteGroups(mine) : undefined))
      .catch(() => undefined);
    await admin.disconnect();
    redis.disconnect();
    await mongo.close();
    await ferret.stop();
  }

  const rows = aggregate(results);
  const targets = evaluateTargets(rows);
  const loadAfter = loadavg();
  const seconds = (Date.now() - started) / 1000;
  const machine = {
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpu: cpus()[0]?.model ?? '?',
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    freeMemoryGiBAtStart: +(freemem() / 2 ** 30).toFixed(1),
    loadAverageBefore: loadBefore.map((l) => +l.toFixed(2)),
    loadAverageAfter: loadAfter.map((l) => +l.toFixed(2)),
  };
  const when = new Date().toISOString();
  // a run of some savers or workloads only (BENCH_SAVERS, BENCH_WORKLOADS) or with --no-docs leaves docs/ alone
  const partial = env.BENCH_SAVERS !== undefined || env.BENCH_WORKLOADS !== undefined || process.argv.includes('--no-docs');
  const resultsFile = path.join(ROOT, 'bench/results', `${when.slice(0, 10)}-suite-${plan.mode}${plan.pin ? '-pin' : ''}${partial ? '-partial' : ''}.json`);
  mkdirSync(path.dirname(resultsFile), { recursive: true });
  writeFileSync(resultsFile, JSON.stringify({ when, mode: plan.mode, seconds, plan, machine, versions, postgres: pg && { origin: pg.origin, settings: pg.settings }, rows, targets, cells: results }, null, 2));

  // charts
  const imgDir = partial ? path.join(ROOT, '.local/bench-img') : path.join(ROOT, 'docs/img');
  mkdirSync(imgDir, { recursive: true });
  const line = (workload: 'saver' | 'graph'): Panel['series'] =>
    plan.savers.map((s) => ({ name: saverLabels[s], color: saverColors[s]!, points: rows.filter((r) => r.workload === workload && r.saver === s && !r.pinned).map((r) => ({ x: r.threads, y: r.opsPerSec })) }));
  const sub = `${plan.mode} run ${when.slice(0, 16).replace('T', ' ')} UTC · ${machine.nproc} cores · ${plan.messageBytes}-byte messages · medians of repetitions`;
  renderChart(path.join(imgDir, 'bench-throughput.png'), 'Throughput vs fleet size (higher is better)', [
    { title: `Saver level (${plan.saverSteps} steps per thread)`, xLabel: 'concurrent threads', yLabel: 'steps/s', logX: true, logY: true, series: line('saver') },
    { title: `Graph fleet (${plan.graphTurns} turns per thread)`, xLabel: 'concurrent threads', yLabel: 'turns/s', logX: true, logY: true, series: line('graph') },
  ], sub);
  const bytesRows = rows.filter((r) => r.workload === 'bytes');
  const bytesSeries: Panel['series'] = bytesRows
    .filter((r) => r.saver !== 'memory')
    .map((r) => ({ name: saverLabels[r.saver] + (r.saver === 'threadlog' ? ' (projection)' : ''), color: saverColors[r.saver]!, points: (r.storage ?? []).map((s) => ({ x: s.steps, y: s.bytesPerStep ?? Number.NaN })) }));
  const ours = bytesRows.find((r) => r.saver === 'threadlog');
  if (ours) bytesSeries.push({ name: `${saverLabels.threadlog} (Kafka log)`, color: saverColors.threadlog!, dashed: true, points: (ours.storage ?? []).map((s) => ({ x: s.steps, y: s.kafkaBytesPerStep ?? Number.NaN })) });
  renderChart(path.join(imgDir, 'bench-bytes-per-step.png'), 'Bytes stored per step vs thread length (lower is better)', [
    { title: `Storage ÷ steps (${plan.bytesThreads} threads)`, xLabel: 'steps per thread', yLabel: 'bytes per step', logX: true, logY: true, series: bytesSeries },
  ], sub);

  const block = [
    `### Last run: ${plan.mode} mode, ${when.slice(0, 19).replace('T', ' ')} UTC, ${Math.round(seconds)} s`,
    '',
    `Machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memoryGiB} GiB; load average before ${machine.loadAverageBefore.join(' / ')}, after ${machine.loadAverageAfter.join(' / ')}.`,
    `Versions: ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    pg ? `PostgreSQL: ${pg.origin}; ${Object.entries(pg.settings).map(([k, v]) => `${k}=${v}`).join(', ')}.` : '',
    `Sizes: graph fleet ${plan.graphThreads.join(', ')} threads × ${plan.graphTurns} turns; saver level ${plan.saverThreads.join(', ')} threads × ${plan.saverSteps} steps; repetitions ${plan.reps} (fleets above ${plan.largeFleet} threads: ${plan.repsLarge}); storage ${plan.bytesThreads} threads × ${plan.bytesAt.join('/')} steps${plan.pin ? '; every timed cell also pinned (client core 0, servers and projector core 1)' : ''}. Raw data: \`${path.relative(ROOT, resultsFile)}\`.`,
    '',
    '![throughput vs fleet size](img/bench-throughput.png)',
    '',
    '![bytes per step vs steps](img/bench-bytes-per-step.png)',
    '',
    tables(rows, plan.savers),
    '',
    '#### Targets',
    '',
    targetsTable(targets),
  ].join('\n');
  console.log(`\n${block}\n`);
  if (!partial) writeDocBlock(path.join(ROOT, 'docs/BENCHMARKS.md'), block, '# Benchmarks: ThreadlogSaver against the LangGraph savers\n\nRun `npm run bench` (full) or `npm run bench -- --quick`.\n');
  log(`written ${path.relative(ROOT, resultsFile)}${partial ? ` and charts in ${path.relative(ROOT, imgDir)} (partial run: docs/ untouched)` : ', docs/img/bench-*.png, docs/BENCHMARKS.md'} in ${Math.round(seconds)} s`);
}

await main();
