/**
 * The timeline viewer's open time: from the click on a thread (the hash change) to its first
 * page of the tree on screen, in Debian's Chromium (playwright-core), for a thread of 1,000
 * checkpoints against a baseline thread of 50 in the same run — the API pages 200 checkpoints
 * at a time, so the long thread should cost about what the short one does. Each open also
 * reports the page's own timing of the thread API call; the audit an open starts (it re-reads
 * the thread from Kafka) is waited out before the next open.
 *
 * Run: npm run bench:ui [-- --quick]   (the local stack must run: npm run infra:up; needs
 *      /usr/bin/chromium: apt-get install -y chromium)
 * Env: THREADLOG_KAFKA_BROKERS, THREADLOG_MONGO_URL, THREADLOG_REDIS_URL (or the port variables).
 * Output: a table on stdout, bench/results/ui-<timestamp>.json. Everything it creates (topics,
 * database, Redis keys, the built front end) is removed at the end.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { uuid6, type Checkpoint } from '@langchain/langgraph-checkpoint';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { Redis } from 'ioredis';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import { createCheckpointStore, type CheckpointStore, type SaveInput } from '../src/index.ts';
import { startViewer } from '../src/ui/viewer.ts';

const env = process.env;
const brokers = (env.THREADLOG_KAFKA_BROKERS ?? `127.0.0.1:${env.THREADLOG_KAFKA_PORT ?? '19092'}`).split(',');
const mongoUrl = env.THREADLOG_MONGO_URL ?? `mongodb://127.0.0.1:${env.THREADLOG_MONGO_PORT ?? '27018'}/`;
const redisUrl = env.THREADLOG_REDIS_URL ?? `redis://127.0.0.1:${env.THREADLOG_REDIS_PORT ?? '16379'}`;
const QUICK = process.argv.includes('--quick');
const OPENS = QUICK ? 7 : 21;
const CHROMIUM = '/usr/bin/chromium';
const ID = `benchui${Date.now().toString(36)}`;
const ROOT = path.resolve(import.meta.dirname, '..');
const PARTITIONS = 3;
const GENERATION = 'v1';
const THREADS = [
  { id: 'short-thread', checkpoints: 50 },
  { id: 'long-thread', checkpoints: 1_000 },
];

interface Open {
  totalMs: number;
  apiMs: number;
}

interface Result {
  thread: string;
  checkpoints: number;
  opens: number;
  openP50Ms: number;
  openP99Ms: number;
  apiP50Ms: number;
  apiP99Ms: number;
}

const quantile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

/** runs in the page: from the hash change to `rows` rows of the tree rendered */
const openScript = (thread: string, rows: number): string => `new Promise((resolve) => {
  const t0 = performance.now();
  location.hash = '#/t/${thread}';
  const tree = () => document.querySelector('tl-app')?.shadowRoot?.querySelector('tl-thread')?.shadowRoot?.querySelectorAll('.row[data-checkpoint]').length ?? 0;
  const check = () => {
    if (tree() >= ${rows}) {
      const api = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/thread?'));
      resolve({ totalMs: performance.now() - t0, apiMs: api ? api.duration : -1 });
    } else requestAnimationFrame(check);
  };
  check();
})`;

async function fill(store: CheckpointStore, threadId: string, n: number): Promise<void> {
  let parent: string | undefined;
  const inputs: SaveInput[] = [];
  for (let i = 0; i < n; i++) {
    const cp = { v: 4, id: uuid6(i), ts: new Date().toISOString(), channel_values: { count: i, note: `step ${i}` }, channel_versions: { count: i + 1, note: i + 1 }, versions_seen: {} } as Checkpoint;
    inputs.push({ threadId, checkpoint: cp, metadata: { source: 'loop', step: i, parents: {} }, newVersions: cp.channel_versions, ...(parent === undefined ? {} : { parentCheckpointId: parent }) });
    parent = cp.id;
  }
  for (let i = 0; i < n; i += 100) await store.saveBatch(inputs.slice(i, i + 100));
  await store.load({ threadId }, { consistency: 'strong', timeoutMs: 120_000 });
}

const row = (r: Result): string =>
  `${r.thread.padEnd(14)} ${String(r.checkpoints).padStart(6)} ${String(r.opens).padStart(6)}   ${r.openP50Ms.toFixed(0).padStart(6)} ${r.openP99Ms.toFixed(0).padStart(6)}   ${r.apiP50Ms.toFixed(0).padStart(6)} ${r.apiP99Ms.toFixed(0).padStart(6)}`;

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const mongo = new MongoClient(mongoUrl);
  const redis = new Redis(redisUrl);
  const kafka = new Kafka({ brokers, clientId: 'bench-ui', logLevel: logLevel.NOTHING });
  const assetsDir = await mkdtemp(path.join(tmpdir(), 'threadlog-bench-ui-'));
  const store = await createCheckpointStore({ kafka: { brokers }, mongo, redis, dbName: ID, topicPrefix: ID, redisKeyPrefix: `${ID}:`, partitions: PARTITIONS, generation: GENERATION, embeddedProjector: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    await build({ configFile: path.join(ROOT, 'web/vite.config.ts'), logLevel: 'error', build: { outDir: assetsDir, emptyOutDir: true } });
    for (const t of THREADS) {
      process.stdout.write(`saving ${t.id}: ${t.checkpoints} checkpoints...\n`);
      await fill(store, t.id, t.checkpoints);
    }
    const viewer = await startViewer({ kafka, db: mongo.db(ID), redis, store, topicPrefix: ID, partitions: PARTITIONS, generation: GENERATION, redisPrefix: `${ID}:`, port: 0, assetsDir });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await page.goto(`${viewer.url}/`);
      await page.locator('tl-threads a.thread-link').first().waitFor();
      const opens = new Map<string, Open[]>(THREADS.map((t) => [t.id, []]));
      // alternate the threads, so load on this shared machine falls on both alike; the
      // first round warms the page's code and the server's connections and is not counted
      for (let i = 0; i <= OPENS; i++) {
        for (const t of THREADS) {
          await page.evaluate("location.hash = '#/'");
          await page.locator('tl-threads a.thread-link').first().waitFor();
          await page.evaluate('performance.clearResourceTimings()');
          const o = await page.evaluate<Open>(openScript(t.id, Math.min(200, t.checkpoints)));
          await page.locator('tl-thread [data-banner^="audit-"]').waitFor({ timeout: 120_000 });
          if (i > 0) opens.get(t.id)!.push(o);
        }
        process.stdout.write(`\ropens ${i}/${OPENS}`);
      }
      process.stdout.write('\n\nthread         checkpoints opens   open p50/p99 ms   API p50/p99 ms\n');
      const results: Result[] = THREADS.map((t) => {
        const os = opens.get(t.id)!;
        const r = { thread: t.id, checkpoints: t.checkpoints, opens: os.length, openP50Ms: quantile(os.map((o) => o.totalMs), 0.5), openP99Ms: quantile(os.map((o) => o.totalMs), 0.99), apiP50Ms: quantile(os.map((o) => o.apiMs), 0.5), apiP99Ms: quantile(os.map((o) => o.apiMs), 0.99) };
        console.log(row(r));
        return r;
      });
      const [short, long] = results as [Result, Result];
      const ratio = long.openP50Ms / short.openP50Ms;
      console.log(`\n1,000 checkpoints against 50: ${ratio.toFixed(2)}x the open time (p50)`);
      const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
      const file = path.join(ROOT, 'bench/results', `ui-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({ host: hostname(), cpus: cpus().length, node: process.version, commit, quick: QUICK, results, longOverShortP50: ratio }, null, 2));
      console.log(`written ${path.relative(ROOT, file)}`);
    } finally {
      await viewer.close();
    }
  } finally {
    await browser.close();
    await store.close();
    await rm(assetsDir, { recursive: true, force: true });
    await mongo.db(ID).dropDatabase().catch(() => undefined);
    await mongo.close();
    const keys = await redis.keys(`${ID}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(ID));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    await admin.disconnect();
  }
}

await main();
