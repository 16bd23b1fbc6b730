/**
 * Which FerretDB backend should the local stack use: SQLite or PostgreSQL?
 *
 * Measures threadlog's MongoDB workload on FerretDB v1.24.2 with each backend:
 *   (a) bulkWrite of 1,000 upserts by string _id (ordered:false), batches of 100 and 500,
 *       new ids (insert path) and the same ids again (replace path);
 *   (b) findOne by _id, 2,000 lookups at concurrency 1 and 16;
 *   (c) find {_id: {$in: [20 ids]}};
 *   (d) the per-thread _id prefix range query, sorted by _id descending, limit 10, over
 *       5,000 and 50,000 documents (500 threads): growth with collection size shows
 *       whether it is served by the _id index or by a full scan;
 *   (e) the guarded upsert updateOne({_id, pos: {$lt: N}}, …, {upsert: true}): its latency,
 *       and that it fails with code 11000 when the stored document is newer.
 *
 * By default it starts its own throwaway servers (it never touches the running stack):
 *   FerretDB --handler=sqlite     on 127.0.0.1:27118 (data in a temp dir)
 *   FerretDB --handler=postgresql on 127.0.0.1:27119 against a PostgreSQL cluster it
 *   initdb's in the same temp dir (port 15532, fsync=off, synchronous_commit=off, as
 *   infra/stack.sh), and removes all of it at the end, also on failure or Ctrl-C.
 * To measure servers you already run instead:
 *   BENCH_SQLITE_URL=mongodb://… BENCH_POSTGRESQL_URL=mongodb://… npx tsx bench/ferretdb-backend.ts
 *
 * Run: npx tsx bench/ferretdb-backend.ts   (BENCH_REPS=5 by default; BENCH_QUICK=1 for a smoke run)
 * Output: a table on stdout and bench/results/ferretdb-backend-<date>.json.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, chmodSync, chownSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir, cpus, hostname } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { MongoClient, Binary, BSON, MongoServerError, type Collection, type AnyBulkWriteOperation } from 'mongodb';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const FERRETDB_BIN = process.env.BENCH_FERRETDB_BIN ?? join(ROOT, '.local/bin/ferretdb-v1.24.2');
const QUICK = process.env.BENCH_QUICK === '1';
const REPS = Number(process.env.BENCH_REPS ?? (QUICK ? 1 : 5));
const PORTS = { sqlite: 27118, postgresql: 27119, pg: 15532 };
const N_THREADS = 500;
const SIZES = QUICK ? [500, 5_000] : [5_000, 50_000];
const FINDONE_N = QUICK ? 200 : 2_000;
// Queries that FerretDB cannot push down scan the whole collection, so fewer of them.
const SCAN_Q = Number(process.env.BENCH_SCAN_QUERIES ?? (QUICK ? 3 : 20));
// Per metric, per collection size and repetition, stop issuing new operations after this
// long: FerretDB 1.24's SQLite backend full-scans even for _id equality (see infra/README.md),
// and 2,000 lookups over 50k docs would take many minutes. The JSON records the actual n.
const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? (QUICK ? 1_000 : 3_000));
// Bulk writes run last, on their own client with this socket timeout (see main()).
const BULK_TIMEOUT_MS = Number(process.env.BENCH_BULK_TIMEOUT_MS ?? (QUICK ? 10_000 : 60_000));

const VERBOSE = process.env.BENCH_VERBOSE === '1';
const step = (msg: string): void => {
  if (VERBOSE) process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
};

type Backend = 'sqlite' | 'postgresql';
const BACKENDS: Backend[] = ['sqlite', 'postgresql'];

interface CheckpointDoc {
  _id: string;
  thread_id: string;
  checkpoint_ns: string;
  checkpoint_id: string;
  parent_checkpoint_id: string | null;
  pos: number;
  type: string;
  checkpoint: Binary;
  metadata: Record<string, unknown>;
  created_at: Date;
}

// ------------------------------------------------------------------ data
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const cpId = (thread: number, seq: number): string => `cp:thread${thread}:${String(seq).padStart(8, '0')}`;

function makeDoc(rnd: () => number, thread: number, seq: number, idOverride?: string): CheckpointDoc {
  // ~1–4 KiB of BSON: ~600 bytes of fields and metadata plus a 0.4–3.4 KiB serialized payload.
  const payload = Buffer.alloc(400 + Math.floor(rnd() * 3_072));
  for (let i = 0; i + 4 <= payload.length; i += 4) payload.writeUInt32LE((rnd() * 0xffffffff) >>> 0, i);
  return {
    _id: idOverride ?? cpId(thread, seq),
    thread_id: `thread${thread}`,
    checkpoint_ns: '',
    checkpoint_id: `1ef${seq.toString(16).padStart(12, '0')}-${thread}`,
    parent_checkpoint_id: seq > 0 ? `1ef${(seq - 1).toString(16).padStart(12, '0')}-${thread}` : null,
    pos: seq,
    type: 'json',
    checkpoint: new Binary(payload),
    metadata: {
      source: seq === 0 ? 'input' : 'loop',
      step: seq,
      parents: { '': seq > 0 ? cpId(thread, seq - 1) : null },
      writes: { agent: { messages: [{ role: 'assistant', tokens: Math.floor(rnd() * 900) }] } },
      run_id: `run-${thread}-${Math.floor(seq / 10)}`,
      user: { id: `u${thread % 37}`, org: `org${thread % 5}`, plan: 'pro' },
      tags: ['threadlog', 'bench', `t${thread % 7}`],
    },
    created_at: new Date(1_760_000_000_000 + seq * 1000),
  };
}

// ------------------------------------------------------------------ statistics
function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length); // nearest rank
  return s[Math.min(s.length, Math.max(1, rank)) - 1] as number;
}
const now = (): number => performance.now();

async function concurrently<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  const deadline = now() + BUDGET_MS;
  const worker = async (): Promise<void> => {
    while (next < items.length && now() < deadline) {
      const i = next++;
      await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return next;
}

// ------------------------------------------------------------------ throwaway servers
const children: ChildProcess[] = [];
let tmpRoot: string | undefined;
let pgStarted = false;
let pgBin: string | undefined;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

async function waitPort(port: number, secs: number, what: string): Promise<void> {
  const deadline = Date.now() + secs * 1000;
  while (await portFree(port)) {
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${secs}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs a command as the postgres user when we are root (initdb refuses to run as root). */
function asPostgres(cmd: string[]): { status: number | null; out: string } {
  const isRoot = process.getuid?.() === 0;
  const quoted = cmd.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const r = isRoot
    ? spawnSync('su', ['postgres', '-s', '/bin/sh', '-c', `cd /tmp && ${quoted}`], { encoding: 'utf8' })
    : spawnSync(cmd[0] as string, cmd.slice(1), { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function findPgBin(): string {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) throw new Error('PostgreSQL not installed (apt-get install postgresql)');
  const versions = readdirSync(base).sort((a, b) => Number(a) - Number(b));
  return join(base, versions[versions.length - 1] as string, 'bin');
}

async function startServers(): Promise<Record<Backend, string>> {
  for (const [name, port] of Object.entries(PORTS)) {
    if (!(await portFree(port))) throw new Error(`port ${port} (${name}) is taken; not starting throwaway servers`);
  }
  if (!existsSync(FERRETDB_BIN)) throw new Error(`${FERRETDB_BIN} missing: run npm run infra:up once to build it`);
  tmpRoot = mkdtempSync(join(tmpdir(), 'threadlog-ferretbench-'));
  chmodSync(tmpRoot, 0o755); // the postgres user must reach its data dir inside
  pgBin = findPgBin();
  const pgData = join(tmpRoot, 'pg');
  mkdirSync(pgData, { mode: 0o700 });
  if (process.getuid?.() === 0) {
    const pw = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gw = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    chownSync(pgData, Number(pw.stdout), Number(gw.stdout));
  }
  const init = asPostgres([join(pgBin, 'initdb'), '-D', pgData, '-U', 'postgres', '--auth=trust', '--no-sync']);
  if (init.status !== 0) throw new Error(`initdb failed:\n${init.out}`);
  const pgLog = join(tmpRoot, 'pg', 'server.log');
  const opts = `-p ${PORTS.pg} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off`;
  const start = asPostgres([join(pgBin, 'pg_ctl'), '-D', pgData, '-l', pgLog, '-o', opts, '-w', 'start']);
  if (start.status !== 0) throw new Error(`pg_ctl start failed:\n${start.out}`);
  pgStarted = true;
  const mk = spawnSync(join(pgBin, 'psql'), ['-h', '127.0.0.1', '-p', String(PORTS.pg), '-U', 'postgres', '-c', 'create database ferretdb'], { encoding: 'utf8' });
  if (mk.status !== 0) throw new Error(`create database failed: ${mk.stderr}`);

  const common = ['--telemetry=disable', '--debug-addr=-', '--log-level=warn'];
  mkdirSync(join(tmpRoot, 'sqlite'));
  const launch = (backend: Backend, extra: string[]): void => {
    const state = join(tmpRoot as string, `state-${backend}`);
    mkdirSync(state);
    const child = spawn(FERRETDB_BIN, [`--listen-addr=127.0.0.1:${PORTS[backend]}`, `--state-dir=${state}`, `--handler=${backend}`, ...common, ...extra], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (d: Buffer) => {
      const line = d.toString();
      if (/ERROR|panic/.test(line)) process.stderr.write(`[ferretdb ${backend}] ${line}`);
    });
    children.push(child);
  };
  launch('sqlite', [`--sqlite-url=file:${join(tmpRoot, 'sqlite')}/`]);
  launch('postgresql', [`--postgresql-url=postgres://postgres@127.0.0.1:${PORTS.pg}/ferretdb`]);
  await waitPort(PORTS.sqlite, 30, 'ferretdb sqlite');
  await waitPort(PORTS.postgresql, 30, 'ferretdb postgresql');
  return { sqlite: `mongodb://127.0.0.1:${PORTS.sqlite}/`, postgresql: `mongodb://127.0.0.1:${PORTS.postgresql}/` };
}

let cleanedUp = false;
async function cleanup(): Promise<void> {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      const exited = await Promise.race([
        new Promise<boolean>((r) => c.once('exit', () => r(true))),
        new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
      ]);
      if (!exited) c.kill('SIGKILL');
    }
  }
  if (pgStarted && tmpRoot && pgBin) {
    const r = asPostgres([join(pgBin, 'pg_ctl'), '-D', join(tmpRoot, 'pg'), '-m', 'fast', '-w', 'stop']);
    if (r.status !== 0) process.stderr.write(`pg_ctl stop: ${r.out}\n`);
  }
  if (tmpRoot) rmSync(tmpRoot, { recursive: true, force: true });
}

// ------------------------------------------------------------------ workload
interface Sample { [metric: string]: number[] }

async function loadDataset(col: Collection<CheckpointDoc>, size: number): Promise<number> {
  await col.drop().catch(() => undefined);
  const perThread = size / N_THREADS;
  const rnd = mulberry32(size);
  const t0 = now();
  let batch: CheckpointDoc[] = [];
  for (let seq = 0; seq < perThread; seq++) {
    for (let t = 0; t < N_THREADS; t++) {
      batch.push(makeDoc(rnd, t, seq));
      if (batch.length === 1000) {
        await col.insertMany(batch, { ordered: false });
        batch = [];
      }
    }
  }
  if (batch.length) await col.insertMany(batch, { ordered: false });
  const ms = now() - t0;
  const n = await col.countDocuments();
  if (n !== size) throw new Error(`${col.collectionName}: loaded ${n} docs, expected ${size}`);
  return ms;
}

async function benchBulk(db: ReturnType<MongoClient['db']>, rep: number, batchSize: number, out: Sample): Promise<void> {
  const col = db.collection<CheckpointDoc>(`bulk_${batchSize}`);
  await col.drop().catch(() => undefined);
  await col.insertOne(makeDoc(mulberry32(1), 0, 0, 'warm')); // collection exists: measure writes, not DDL
  const rnd = mulberry32(rep * 1000 + batchSize);
  const docs = Array.from({ length: 1000 }, (_, i) => makeDoc(rnd, 1 + (i % 50), i, `cp:bulk${rep}:${String(i).padStart(8, '0')}`));
  const ops = (): AnyBulkWriteOperation<CheckpointDoc>[] =>
    docs.map((d) => ({ replaceOne: { filter: { _id: d._id }, replacement: d, upsert: true } }));
  for (const pass of ['new', 'existing'] as const) {
    const all = ops();
    const t0 = now();
    for (let i = 0; i < all.length; i += batchSize) {
      const r = await col.bulkWrite(all.slice(i, i + batchSize), { ordered: false });
      const touched = r.upsertedCount + r.matchedCount;
      if (touched !== Math.min(batchSize, all.length - i)) throw new Error(`bulkWrite touched ${touched} docs`);
    }
    (out[`a. bulkWrite 1000 upserts, batch ${batchSize}, ${pass} ids (ms total)`] ??= []).push(now() - t0);
  }
}

async function benchFindOne(col: Collection<CheckpointDoc>, size: number, rep: number, out: Sample): Promise<void> {
  const rnd = mulberry32(rep + 77);
  const perThread = size / N_THREADS;
  for (const conc of [1, 16]) {
    const ids = Array.from({ length: FINDONE_N }, () => cpId(Math.floor(rnd() * N_THREADS), Math.floor(rnd() * perThread)));
    const lat: number[] = [];
    const t0 = now();
    const done = await concurrently(ids, conc, async (id) => {
      const t = now();
      const d = await col.findOne({ _id: id });
      lat.push(now() - t);
      if (!d) throw new Error(`findOne ${id}: not found`);
    });
    const wall = now() - t0;
    (out[`b. findOne by _id, ${size / 1000}k docs, conc ${conc} (ms/op)`] ??= []).push(...lat);
    (out[`b. findOne by _id, ${size / 1000}k docs, conc ${conc} (ops/s)`] ??= []).push((done / wall) * 1000);
  }
}

async function benchIn(col: Collection<CheckpointDoc>, size: number, rep: number, out: Sample): Promise<void> {
  const rnd = mulberry32(rep + 99);
  const perThread = size / N_THREADS;
  const deadline = now() + BUDGET_MS;
  for (let q = 0; q < SCAN_Q && now() < deadline; q++) {
    const ids = Array.from({ length: 20 }, () => cpId(Math.floor(rnd() * N_THREADS), Math.floor(rnd() * perThread)));
    const t = now();
    const docs = await col.find({ _id: { $in: ids } }).toArray();
    (out[`c. find _id $in 20 ids, ${size / 1000}k docs (ms/op)`] ??= []).push(now() - t);
    if (docs.length !== new Set(ids).size) throw new Error(`$in returned ${docs.length} docs`);
  }
}

async function benchRange(col: Collection<CheckpointDoc>, size: number, rep: number, out: Sample): Promise<void> {
  const rnd = mulberry32(rep + 123);
  const perThread = size / N_THREADS;
  const deadline = now() + BUDGET_MS;
  for (let q = 0; q < SCAN_Q && now() < deadline; q++) {
    const thread = Math.floor(rnd() * N_THREADS);
    const t = now();
    const docs = await col
      .find({ _id: { $gte: `cp:thread${thread}:`, $lt: `cp:thread${thread};` } })
      .sort({ _id: -1 })
      .limit(10)
      .toArray();
    (out[`d. _id prefix range, sort desc, limit 10, ${size / 1000}k docs (ms/op)`] ??= []).push(now() - t);
    if (docs.length !== Math.min(10, perThread) || docs[0]?._id !== cpId(thread, perThread - 1)) {
      throw new Error(`range query for thread${thread} returned ${docs.length} docs, first ${docs[0]?._id}`);
    }
  }
}

let guardCounter = 1_000_000;
async function benchGuarded(col: Collection<CheckpointDoc>, size: number, rep: number, out: Sample): Promise<void> {
  const rnd = mulberry32(rep + 555);
  const perThread = size / N_THREADS;
  const deadline = now() + BUDGET_MS;
  for (let q = 0; q < SCAN_Q && now() < deadline; q++) {
    const id = cpId(Math.floor(rnd() * N_THREADS), Math.floor(rnd() * perThread));
    const n = ++guardCounter; // always newer than what is stored: the update path
    const t = now();
    const r = await col.updateOne({ _id: id, pos: { $lt: n } }, { $set: { pos: n } }, { upsert: true });
    (out[`e. guarded upsert updateOne (newer), ${size / 1000}k docs (ms/op)`] ??= []).push(now() - t);
    if (r.matchedCount !== 1) throw new Error(`guarded update of ${id} matched ${r.matchedCount}`);
  }
}

/** The stale write must fail with E11000 (the filter misses, the upsert's insert collides). */
async function checkE11000(col: Collection<CheckpointDoc>): Promise<{ code: number | undefined; message: string; ok: boolean }> {
  await col.deleteOne({ _id: 'guard:1' });
  await col.insertOne(makeDoc(mulberry32(5), 0, 0, 'guard:1'));
  await col.updateOne({ _id: 'guard:1' }, { $set: { pos: 10 } });
  try {
    await col.updateOne({ _id: 'guard:1', pos: { $lt: 5 } }, { $set: { pos: 5 } }, { upsert: true });
    return { code: undefined, message: 'no error: stale write was accepted', ok: false };
  } catch (e) {
    if (e instanceof MongoServerError) {
      const stored = await col.findOne({ _id: 'guard:1' });
      const ok = e.code === 11000 && stored?.pos === 10;
      return { code: typeof e.code === 'number' ? e.code : undefined, message: e.message, ok };
    }
    throw e;
  }
}

async function explainAll(col: Collection<CheckpointDoc>): Promise<Record<string, unknown>> {
  const pick = (e: Record<string, unknown>): Record<string, unknown> => ({
    filterPushdown: e.filterPushdown,
    sortPushdown: e.sortPushdown,
    limitPushdown: e.limitPushdown,
  });
  const id = cpId(42, 3);
  return {
    'findOne {_id}': pick(await col.find({ _id: id }).limit(1).explain()),
    '_id $in 20': pick(await col.find({ _id: { $in: [id, cpId(43, 3)] } }).explain()),
    '_id range + sort -1 + limit 10': pick(
      await col.find({ _id: { $gte: 'cp:thread42:', $lt: 'cp:thread42;' } }).sort({ _id: -1 }).limit(10).explain(),
    ),
    '{_id, pos: {$lt}} (guarded upsert filter)': pick(await col.find({ _id: id, pos: { $lt: 5 } }).explain()),
  };
}

// ------------------------------------------------------------------ main
async function main(): Promise<void> {
  const external = process.env.BENCH_SQLITE_URL && process.env.BENCH_POSTGRESQL_URL;
  const urls: Record<Backend, string> = external
    ? { sqlite: process.env.BENCH_SQLITE_URL as string, postgresql: process.env.BENCH_POSTGRESQL_URL as string }
    : await startServers();
  // No compressors: the local stack's FerretDB and the default driver settings.
  const clients = Object.fromEntries(
    BACKENDS.map((b) => [b, new MongoClient(urls[b], { maxPoolSize: 32, serverSelectionTimeoutMS: 10_000 })]),
  ) as Record<Backend, MongoClient>;
  try {
    for (const b of BACKENDS) await clients[b].connect();
    const dbs = Object.fromEntries(BACKENDS.map((b) => [b, clients[b].db('threadlog_bench')])) as Record<Backend, ReturnType<MongoClient['db']>>;
    const samples: Record<Backend, Sample> = { sqlite: {}, postgresql: {} };
    const load: Record<string, Record<Backend, number>> = {};
    const avgSize = (() => {
      const rnd = mulberry32(3);
      const s = Array.from({ length: 200 }, (_, i) => BSON.calculateObjectSize(makeDoc(rnd, i, i)));
      return { min: Math.min(...s), avg: Math.round(s.reduce((x, y) => x + y, 0) / s.length), max: Math.max(...s) };
    })();
    console.log(`doc BSON size: min ${avgSize.min} / avg ${avgSize.avg} / max ${avgSize.max} bytes; reps ${REPS}`);

    for (const size of SIZES) {
      for (const b of BACKENDS) {
        const ms = await loadDataset(dbs[b].collection<CheckpointDoc>(`cp_${size}`), size);
        (load[`load ${size} docs via insertMany(1000)`] ??= { sqlite: NaN, postgresql: NaN })[b] = ms;
        console.log(`loaded ${size} docs into ${b} in ${(ms / 1000).toFixed(1)} s`);
      }
    }

    const explain: Record<string, unknown> = {};
    const e11000: Record<string, unknown> = {};
    for (const b of BACKENDS) {
      step(`${b}: explain`);
      explain[b] = await explainAll(dbs[b].collection<CheckpointDoc>(`cp_${SIZES[SIZES.length - 1]}`));
      step(`${b}: E11000 check`);
      e11000[b] = await checkE11000(dbs[b].collection<CheckpointDoc>(`cp_${SIZES[0]}`));
    }

    for (let rep = 0; rep < REPS; rep++) {
      // Alternate which backend goes first, so drift on a shared machine hits both alike.
      const order = rep % 2 === 0 ? BACKENDS : [...BACKENDS].reverse();
      for (const b of order) {
        const t0 = now();
        const out = samples[b];
        for (const size of SIZES) {
          const col = dbs[b].collection<CheckpointDoc>(`cp_${size}`);
          step(`${b} ${size}: findOne`);
          await benchFindOne(col, size, rep, out);
          step(`${b} ${size}: $in`);
          await benchIn(col, size, rep, out);
          step(`${b} ${size}: range`);
          await benchRange(col, size, rep, out);
          step(`${b} ${size}: guarded upsert`);
          await benchGuarded(col, size, rep, out);
        }
        console.log(`rep ${rep + 1}/${REPS} ${b}: ${((now() - t0) / 1000).toFixed(1)} s`);
      }
    }

    // Bulk writes last, smallest batch first. FerretDB 1.24 keeps every update's cursor (and,
    // on PostgreSQL, a pooled connection: pool_max_conns=50) open until the whole command ends:
    // on PostgreSQL a batch of more than ~50 upserts that match existing documents deadlocks
    // for good, on SQLite large batches crawl. A timed-out command leaves the server busy or
    // stuck, so after a timeout that backend does no further bulk measurement.
    const bulk: Record<string, Record<Backend, { reps: number; timedOut?: string }>> = {};
    const stuck: Partial<Record<Backend, string>> = {};
    const bulkClients = Object.fromEntries(
      BACKENDS.map((b) => [b, new MongoClient(urls[b], { maxPoolSize: 4, socketTimeoutMS: BULK_TIMEOUT_MS })]),
    ) as Record<Backend, MongoClient>;
    try {
      for (const batch of [40, 100, 500]) {
        const state: Record<Backend, { reps: number; timedOut?: string }> = { sqlite: { reps: 0 }, postgresql: { reps: 0 } };
        bulk[`batch ${batch}`] = state;
        for (let rep = 0; rep < REPS; rep++) {
          for (const b of rep % 2 === 0 ? BACKENDS : [...BACKENDS].reverse()) {
            if (stuck[b]) {
              state[b].timedOut ??= `skipped: ${stuck[b]}`;
              continue;
            }
            step(`${b}: bulk ${batch} (rep ${rep + 1})`);
            try {
              await benchBulk(bulkClients[b].db('threadlog_bench'), rep, batch, samples[b]);
              state[b].reps++;
            } catch (e) {
              if (!(e instanceof Error) || !/timed out|closed/i.test(e.message)) throw e;
              stuck[b] = `batch ${batch} rep ${rep + 1} did not finish within ${BULK_TIMEOUT_MS / 1000} s`;
              state[b].timedOut = stuck[b];
              console.log(`${b}: bulkWrite ${stuck[b]}; no further bulk runs on ${b}`);
            }
          }
        }
      }
    } finally {
      await Promise.all(BACKENDS.map((b) => bulkClients[b].close().catch(() => undefined)));
    }

    // ---------------------------------------------------------------- report
    const rows: Record<string, unknown>[] = [];
    const metrics = Object.keys(samples.sqlite);
    const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
    const header = ['metric', 'sqlite med', 'sqlite p99', 'pg med', 'pg p99', 'sqlite/pg'];
    const lines: string[][] = [header];
    for (const m of [...new Set([...metrics, ...Object.keys(samples.postgresql)])]) {
      const s = samples.sqlite[m] ?? [];
      const p = samples.postgresql[m] ?? [];
      const row = {
        metric: m,
        sqlite: { median: pct(s, 50), p99: pct(s, 99), n: s.length },
        postgresql: { median: pct(p, 50), p99: pct(p, 99), n: p.length },
        ratio_sqlite_over_postgresql: pct(s, 50) / pct(p, 50),
      };
      rows.push(row);
      lines.push([m, fmt(row.sqlite.median), fmt(row.sqlite.p99), fmt(row.postgresql.median), fmt(row.postgresql.p99), row.ratio_sqlite_over_postgresql.toFixed(2)]);
    }
    for (const [m, v] of Object.entries(load)) {
      lines.push([`${m} (ms, once)`, fmt(v.sqlite), '', fmt(v.postgresql), '', (v.sqlite / v.postgresql).toFixed(2)]);
    }
    const widths = header.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
    const out = lines.map((l) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | '));
    out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('-|-'));
    console.log('\n' + out.join('\n'));
    console.log('\nms/op rows: percentiles of all per-operation latencies pooled over the repetitions;');
    console.log('ms total / ops/s rows: median and p99 (= worst, nearest rank) of the per-repetition values.');
    console.log('sqlite/pg > 1: PostgreSQL is faster (for ops/s rows: SQLite is faster).');
    console.log('\npushdown (explain, largest collection):', JSON.stringify(explain, null, 1));
    console.log('stale guarded upsert:', JSON.stringify(e11000, null, 1));
    console.log('bulkWrite runs:', JSON.stringify(bulk, null, 1));

    const date = new Date().toISOString().slice(0, 10);
    const file = join(ROOT, 'bench/results', `ferretdb-backend-${date}.json`);
    mkdirSync(dirname(file), { recursive: true });
    const pgVersion = pgBin ? spawnSync(join(pgBin, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim() : 'external';
    writeFileSync(
      file,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          host: { hostname: hostname(), cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
          ferretdb: 'v1.24.2',
          postgresql: pgVersion,
          postgresql_settings: 'fsync=off, synchronous_commit=off',
          config: { reps: REPS, budgetMsPerMetricPerRep: BUDGET_MS, sizes: SIZES, threads: N_THREADS, findOneLookups: FINDONE_N, scanQueriesPerRep: SCAN_Q, docBsonBytes: avgSize, compression: 'none', quick: QUICK },
          urls,
          results: rows,
          load,
          explain,
          staleGuardedUpsert: e11000,
          bulk,
          raw: samples,
        },
        null,
        1,
      ) + '\n',
    );
    console.log(`\nwrote ${file}`);
  } finally {
    await Promise.all(BACKENDS.map((b) => clients[b].close().catch(() => undefined)));
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (e) {
  process.exitCode = 1;
  console.error(e);
} finally {
  await cleanup();
}
