/**
 * The erasure grep test (issue 15): a marker string goes into a thread's messages, metadata and
 * pending writes, and into a poison event of the thread that the projector dead-letters; the
 * thread is erased; then every file the stack keeps on disk — Kafka's segment files (the
 * checkpoints topic and the dead-letter topic), FerretDB's PostgreSQL data directory (heap and
 * WAL, after a CHECKPOINT), Redis' dump (after a forced uncompressed SAVE), the stack's logs —
 * and every line this process logged is searched for the marker. With encryption on it is
 * nowhere: it was never written in the clear. With encryption off, eraseThread refuses with a
 * typed error naming the setting, and the same search finds the marker (so the search works).
 */
import { spawnSync } from 'node:child_process';
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealEvent } from '../../src/crypto/seal.ts';
import { createEventCodec } from '../../src/events/codec.ts';
import { headerNames } from '../../src/events/wire.ts';
import type { ThreadlogEvent } from '../../src/events/types.ts';
import { createAppender } from '../../src/kafka/appender.ts';
import { checkpointsTopic, deadLetterTopic } from '../../src/kafka/topics.ts';
import { createLocalKeyProvider, createProjector, isThreadlogError, type CheckpointStore, type Logger } from '../../src/index.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { checkpoint, GENERATION, openStore, PARTITIONS } from './helpers.ts';

const stack = useIsolatedStack();
const root = path.resolve(import.meta.dirname, '../..');
// tests are entry points: where infra/stack.sh keeps the local stack's files
const local = process.env.THREADLOG_LOCAL_DIR ?? path.join(root, '.local');
const pgPort = Number(process.env.THREADLOG_PG_PORT ?? '15432');

/** every line the stores and the projector of this file log, at every level */
const logged: string[] = [];
function capturingLogger(bindings: Record<string, unknown> = {}): Logger {
  const line = (level: string) => (obj: object, msg?: string): void => void logged.push(JSON.stringify({ level, ...bindings, ...obj, msg }, (_k, v: unknown) => (v instanceof Error ? `${v.message} ${String(v.cause)}` : typeof v === 'bigint' ? String(v) : v)));
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error'), child: (b) => capturingLogger({ ...bindings, ...b }) };
}

const errorOf = async (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);

/** forces what the servers hold in memory onto disk: PostgreSQL's buffers, Redis' data set (uncompressed) */
async function flushToDisk(): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
  const r = stack.redis();
  const was = (await r.config('GET', 'rdbcompression')) as string[];
  await r.config('SET', 'rdbcompression', 'no');
  try {
    await r.save();
  } finally {
    await r.config('SET', 'rdbcompression', was[1] ?? 'yes');
  }
}

/**
 * What to search for: the marker, and the marker as it looks inside base64 at each of the three
 * byte alignments (FerretDB keeps BSON binary — every serialized value — as base64 in
 * PostgreSQL's jsonb).
 */
function needles(marker: string): string[] {
  const out = [marker];
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k), Buffer.from(marker)]).toString('base64');
    // the first group mixes the padding bytes in, the last may mix in what follows
    out.push(b64.slice(k === 0 ? 0 : 4, -4));
  }
  return out;
}

/** the files under the stack's data and log directories that contain the marker (in any of its forms) */
function filesWith(marker: string): string[] {
  const dirs = [path.join(local, 'data'), path.join(local, 'logs')];
  for (const d of dirs) if (!existsSync(d)) throw new Error(`no local stack files at ${d}: set THREADLOG_LOCAL_DIR to the stack's directory`);
  const r = spawnSync('grep', ['-r', '-l', '-a', '-F', '-D', 'skip', ...needles(marker).flatMap((n) => ['-e', n]), '--', ...dirs], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  // other test files delete their topics meanwhile: a file that vanished under grep is theirs, not an error
  const errors = r.stderr.split('\n').filter((l) => l.length > 0 && !l.endsWith('No such file or directory'));
  if (r.error !== undefined || (r.status !== 0 && r.status !== 1 && errors.length > 0)) throw new Error(`grep failed (${r.status}): ${errors.join('; ') || String(r.error)}`);
  return r.stdout.split('\n').filter((l) => l.length > 0);
}

/**
 * Rows of this file's database in PostgreSQL whose live document contains the marker in any of
 * its forms. PostgreSQL compresses rows over ~2 kB (TOAST, pglz), which splits a string on
 * disk; this asks the server, which decompresses.
 */
async function rowsWith(marker: string): Promise<number> {
  const client = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'postgres', database: 'ferretdb' });
  await client.connect();
  try {
    const tables = await client.query<{ s: string; t: string }>("select table_schema as s, table_name as t from information_schema.columns where column_name = '_jsonb' and lower(table_schema) = lower($1)", [stack.dbName]);
    expect(tables.rows.length).toBeGreaterThan(0);
    let n = 0;
    for (const { s, t } of tables.rows) {
      const q = `select count(*)::int as n from ${client.escapeIdentifier(s)}.${client.escapeIdentifier(t)} where ${needles(marker).map((_, i) => `_jsonb::text like $${i + 1}`).join(' or ')}`;
      n += (await client.query<{ n: number }>(q, needles(marker).map((x) => `%${x}%`))).rows[0]!.n;
    }
    return n;
  } finally {
    await client.end();
  }
}

/** The directories the search must have covered: both topics' partitions, PostgreSQL, Redis' dump. */
function searchedPlaces(): Record<string, boolean> {
  const kafkaDir = spawnSync('bash', ['-c', `ls -d ${JSON.stringify(path.join(local, 'data'))}/kafka-*`], { encoding: 'utf8' }).stdout.trim().split('\n')[0] ?? '';
  return {
    checkpoints: existsSync(path.join(kafkaDir, `${checkpointsTopic(stack.topicPrefix)}-0`)),
    deadLetter: existsSync(path.join(kafkaDir, `${deadLetterTopic(stack.topicPrefix)}-0`)),
    postgres: existsSync(path.join(local, 'data', 'postgres', 'base')) || existsSync(path.join(local, 'data', 'ferretdb-sqlite')),
    redisDump: existsSync(path.join(local, 'data', 'redis', 'dump.rdb')),
  };
}

/** a record of the thread the projector dead-letters (its CRC header is wrong), sealed when a key is given */
async function poison(threadId: string, marker: string, key?: KeyObject): Promise<void> {
  const codec = createEventCodec({ compressionThreshold: 1 << 30 });
  const event: ThreadlogEvent = { type: 'writes', eventId: `poison-${randomBytes(8).toString("hex")}`, threadId, ts: Date.now(), checkpointNs: '', checkpointId: 'poisoned', taskId: 'poison', taskPath: '', writes: [{ idx: 0, channel: 'messages', value: await codec.serialize(`poison ${marker}`) }] };
  const records = await codec.encode(key === undefined ? event : sealEvent(event, key));
  const appender = createAppender({ kafka: stack.kafka, topic: checkpointsTopic(stack.topicPrefix), partitions: PARTITIONS });
  try {
    await appender.append(records.map((r) => ({ ...r, headers: { ...r.headers, [headerNames.crc32]: '00000000' } })));
  } finally {
    await appender.close();
  }
}

/** writes a thread carrying the marker everywhere a user's text goes, and waits until it is projected and cached */
async function writeMarked(writer: CheckpointStore, reader: CheckpointStore, threadId: string, marker: string): Promise<void> {
  const messages: string[] = [];
  let parent: string | undefined;
  for (let step = 1; step <= 3; step++) {
    messages.push(`user says ${marker} (${step})`);
    const cp = checkpoint({ messages: [...messages] }, step);
    await writer.save({ threadId, checkpoint: cp, metadata: { source: 'loop', step, parents: {}, note: marker } as never, ...(parent === undefined ? {} : { parentCheckpointId: parent }) });
    await writer.putWrites({ threadId, checkpointId: cp.id, taskId: `t${step}`, writes: [['messages', `pending ${marker}`]] });
    parent = cp.id;
  }
  // another store reads it: the projection, Redis and its L1 have it
  await waitFor(async () => (await reader.load({ threadId }, { consistency: 'strong' }))?.pendingWrites.length === 1, { what: 'the thread projected' });
}

const dlqEnd = async (): Promise<number> => (await (await stack.admin()).fetchTopicOffsets(deadLetterTopic(stack.topicPrefix))).reduce((n, p) => n + Number(p.high), 0);

beforeAll(async () => {
  const projector = createProjector({
    topicPrefix: stack.topicPrefix,
    generation: GENERATION,
    partitions: PARTITIONS,
    brokers: stack.endpoints.kafkaBrokers,
    mongoUrl: stack.endpoints.mongoUrl,
    mongoDbName: stack.dbName,
    redisUrl: stack.endpoints.redisUrl,
    redisPrefix: stack.redisPrefix,
    sessionTimeoutMs: 10_000,
    logger: capturingLogger({ process: 'projector' }),
  });
  await projector.start();
  afterAll(() => projector.stop());
});

describe('after eraseThread, the marker is nowhere on disk', () => {
  it('with encryption on: not in Kafka segments, dead letters, PostgreSQL, the Redis dump or any log', async () => {
    const marker = `ERASEME-${randomBytes(12).toString('hex')}`;
    const threadId = stack.unique('marked');
    const enc = () => ({ encryption: { keyProvider: createLocalKeyProvider(masterKey) }, logger: capturingLogger({ process: 'store' }) });
    const masterKey = randomBytes(32);
    const writer = await openStore(stack, enc());
    const reader = await openStore(stack, enc());
    await writeMarked(writer, reader, threadId, marker);
    const dlqBefore = await dlqEnd();
    await poison(threadId, marker, createSecretKey(randomBytes(32)));
    await waitFor(async () => (await dlqEnd()) > dlqBefore, { what: 'the poison event dead-lettered' });

    const erased = await writer.eraseThread(threadId, { timeoutMs: 30_000 });
    expect(erased.projected).toBe(true);
    for (const store of [writer, reader]) expect(await store.load({ threadId }, { consistency: 'strong' })).toBeUndefined();

    await flushToDisk();
    expect(searchedPlaces()).toEqual({ checkpoints: true, deadLetter: true, postgres: true, redisDump: true });
    expect(filesWith(marker)).toEqual([]);
    expect(await rowsWith(marker)).toBe(0);
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.filter((l) => l.includes(marker))).toEqual([]);
    expect(logged.some((l) => l.includes('erasure: done') && l.includes(threadId))).toBe(true);
  });

  it('with encryption off: eraseThread refuses naming the setting, and the same search finds the plaintext', async () => {
    const marker = `PLAIN-${randomBytes(12).toString('hex')}`;
    const threadId = stack.unique('plain');
    const writer = await openStore(stack, { logger: capturingLogger({ process: 'plain-store' }) });
    const reader = await openStore(stack);
    await writeMarked(writer, reader, threadId, marker);
    const dlqBefore = await dlqEnd();
    await poison(threadId, marker);
    await waitFor(async () => (await dlqEnd()) > dlqBefore, { what: 'the poison event dead-lettered' });

    const e = await errorOf(writer.eraseThread(threadId));
    expect(isThreadlogError(e, 'encryption-disabled')).toBe(true);
    expect((e as Error).message).toContain('the store option `encryption`');
    // nothing was pretended: still readable
    expect(await reader.load({ threadId }, { consistency: 'strong' })).toBeDefined();

    await flushToDisk();
    const found = filesWith(marker);
    const kafkaDir = (topic: string): RegExp => new RegExp(`/kafka-[^/]+/${topic.replace(/\./g, '\\.')}-\\d+/`);
    expect(found.some((f) => kafkaDir(checkpointsTopic(stack.topicPrefix)).test(f))).toBe(true);
    expect(found.some((f) => kafkaDir(deadLetterTopic(stack.topicPrefix)).test(f))).toBe(true);
    expect(found.some((f) => f.includes('/data/postgres/') || f.includes('/data/ferretdb-sqlite/')), found.join(' ')).toBe(true);
    expect(await rowsWith(marker)).toBeGreaterThan(0);
  });
});
