/**
 * `threadlog import` from MongoDBSaver (FerretDB), SqliteSaver (temp file) and PostgresSaver
 * (the stack's PostgreSQL): ThreadlogSaver afterwards returns the tuples the source saver
 * did; a rerun appends nothing; an interrupted import resumes without duplicates.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { MongoDBSaver } from '@langchain/langgraph-checkpoint-mongodb';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import type { BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCommand } from '../../src/cli/import.ts';
import { createEventCodec } from '../../src/events/codec.ts';
import { createDeltaEncoder } from '../../src/events/deltas.ts';
import { createAppender, type Appender } from '../../src/kafka/appender.ts';
import { createKafkaClient } from '../../src/kafka/client.ts';
import { ThreadlogSaver } from '../../src/langgraph/saver.ts';
import { createMetaStore } from '../../src/mongo/meta.ts';
import { runImport } from '../../src/ops/import/importer.ts';
import { openSource } from '../../src/ops/import/sources.ts';
import { embeddedProjector, endOffsets, makeTopics } from '../projector/helpers.ts';
import { openStore } from '../store/helpers.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { expectSameTuples, PARTITIONS, runThreads, stackEnv, tuplesOf } from './import-helpers.ts';

// the local stack's PostgreSQL (the one under FerretDB), on the same port variable as infra/stack.sh
const PG_ADMIN = process.env.THREADLOG_TEST_PG_URL ?? `postgres://postgres@127.0.0.1:${process.env.THREADLOG_PG_PORT ?? '15432'}/postgres`;

describe('threadlog import', () => {
  const stack = useIsolatedStack();
  let target: ThreadlogSaver;
  let topic: string;
  const tmp = mkdtempSync(path.join(tmpdir(), 'threadlog-import-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const logSize = async (): Promise<bigint> => [...(await endOffsets(stack, topic)).values()].reduce((n, o) => n + BigInt(o), 0n);
  /** one checkpoint event per tuple, one writes event per task with pending writes */
  async function expectedEvents(source: BaseCheckpointSaver, threads: string[]): Promise<bigint> {
    let n = 0n;
    for (const t of threads) for (const tuple of await tuplesOf(source, t)) n += 1n + BigInt(new Set((tuple.pendingWrites ?? []).map(([task]) => task)).size);
    return n;
  }
  const run = (kind: string, location: string, extra: Record<string, unknown> = {}) =>
    importCommand(stackEnv(stack), location, { from: kind, quiet: true, verifyTimeoutMs: 30_000, ...extra });

  /** import, compare, rerun: the rerun appends nothing and still verifies */
  async function importAndCompare(kind: string, location: string, source: BaseCheckpointSaver, threads: string[]): Promise<void> {
    await runThreads(source, threads, 3);
    const before = await logSize();
    expect(await run(kind, location)).toBe(0);
    expect((await logSize()) - before).toBe(await expectedEvents(source, threads));
    const compared = await expectSameTuples(source, target, threads);
    expect(compared).toBeGreaterThan(threads.length * 3);
    const mid = await logSize();
    expect(await run(kind, location)).toBe(0);
    expect(await logSize()).toBe(mid);
  }

  beforeAll(async () => {
    topic = await makeTopics(stack, PARTITIONS);
    await embeddedProjector(stack, { generation: 'v1', partitions: PARTITIONS }).start();
    target = new ThreadlogSaver({ store: await openStore(stack) });
  });

  it('imports from SqliteSaver: same tuples, rerun appends nothing', async () => {
    const file = path.join(tmp, 'source.sqlite');
    const db = new Database(file);
    const source = new SqliteSaver(db);
    try {
      await importAndCompare('sqlite', file, source, ['sq-a', 'sq-b', 'sq-c']);
    } finally {
      db.close();
    }
  });

  it('imports from MongoDBSaver on FerretDB', async () => {
    const client = await stack.mongo();
    const dbName = `${stack.id}-src`;
    const source = new MongoDBSaver({ client, dbName });
    try {
      await importAndCompare('mongodb', `${stack.endpoints.mongoUrl.replace(/\/$/, '')}/${dbName}`, source, ['mg-a', 'mg-b']);
    } finally {
      await client.db(dbName).dropDatabase();
    }
  });

  it('imports from PostgresSaver', async () => {
    const dbName = `${stack.id}_src`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
    const admin = new pg.Client({ connectionString: PG_ADMIN });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    const url = PG_ADMIN.replace(/\/[^/]*$/, `/${dbName}`);
    const source = PostgresSaver.fromConnString(url);
    try {
      await source.setup();
      await importAndCompare('postgres', url, source, ['pg-a', 'pg-b']);
    } finally {
      await source.end();
      // every pool is ended by now; give their server sessions a moment to go rather than
      // FORCE-terminating them under a client that is still closing (an unhandled pg error)
      await waitFor(
        () => admin.query(`DROP DATABASE ${dbName}`).then(
          () => true,
          () => false,
        ),
        { timeoutMs: 10_000, intervalMs: 100, what: `dropping ${dbName}` },
      ).catch(() => admin.query(`DROP DATABASE ${dbName} WITH (FORCE)`));
      await admin.end();
    }
  });

  it('an interrupted import resumes where it stopped, appending nothing twice', async () => {
    const file = path.join(tmp, 'resume.sqlite');
    const db = new Database(file);
    const saver = new SqliteSaver(db);
    const threads = ['rs-a', 'rs-b', 'rs-c', 'rs-d'];
    try {
      await runThreads(saver, threads, 4);
      const before = await logSize();
      // the first run dies after 9 appends, in the middle of a thread
      const kafka = createKafkaClient({ brokers: stack.endpoints.kafkaBrokers, clientId: `${stack.id}-import` });
      const real = createAppender({ kafka, topic, partitions: PARTITIONS });
      let left = 9;
      const dying: Appender = { ...real, append: (r) => (left-- > 0 ? real.append(r) : Promise.reject(new Error('killed'))) };
      const source = await openSource({ kind: 'sqlite', location: file });
      const store = await openStore(stack);
      await expect(
        runImport({ source, codec: createEventCodec(), deltas: createDeltaEncoder(), appender: dying, store, meta: createMetaStore((await stack.mongo()).db(stack.dbName)), concurrency: 1 }),
      ).rejects.toThrow('killed');
      await real.close();
      await source.close();
      expect((await logSize()) - before).toBe(9n);

      expect(await run('sqlite', file)).toBe(0);
      expect((await logSize()) - before).toBe(await expectedEvents(saver, threads));
      await expectSameTuples(saver, target, threads);
      // --threads and --dry-run: nothing appended
      const end = await logSize();
      expect(await run('sqlite', file, { threads: ['rs-a'], dryRun: true })).toBe(0);
      expect(await logSize()).toBe(end);
    } finally {
      db.close();
    }
  });
});
