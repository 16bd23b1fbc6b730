/**
 * The savers we import from. Their own `list()` reads their format (serializer, blob
 * layout, pending-sends migration), so we only enumerate thread ids ourselves. The saver
 * packages are optional: loaded on demand, and a missing one is an error naming the install.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';
import type * as MongoSaverPkg from '@langchain/langgraph-checkpoint-mongodb';
import type * as PostgresSaverPkg from '@langchain/langgraph-checkpoint-postgres';
import type * as SqliteSaverPkg from '@langchain/langgraph-checkpoint-sqlite';
import type * as PgPkg from 'pg';
import type BetterSqlite3 from 'better-sqlite3';
import { ThreadlogError } from '../../errors.ts';

export const sourceKinds = ['mongodb', 'postgres', 'sqlite'] as const;
export type SourceKind = (typeof sourceKinds)[number];

export interface SourceOptions {
  kind: SourceKind;
  /** a mongodb:// or postgres:// URL, or a SQLite file */
  location: string;
  /** MongoDB: database when the URL names none (default "langgraph"?) */
  mongoDbName?: string;
  /** PostgreSQL schema of PostgresSaver's tables */
  postgresSchema?: string;
}

export interface Source {
  kind: SourceKind;
  /** stable name of this source for import markers and event ids: kind + location without credentials */
  key: string;
  /** what to print: the location without credentials */
  label: string;
  saver: BaseCheckpointSaver;
  /** every thread id the source holds, sorted */
  threadIds(): Promise<string[]>;
  close(): Promise<void>;
}

async function load<T>(pkg: string, install: string): Promise<T> {
  try {
    return (await import(pkg)) as T;
  } catch (e) {
    throw new ThreadlogError('invalid-options', `cannot load ${pkg}: install it with 'npm install ${install}'`, { cause: e });
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}

function keyOf(kind: SourceKind, identity: string): string {
  return `${kind}-${createHash('sha256').update(`${kind}\0${identity}`).digest('hex').slice(0, 16)}`;
}

export async function openSource(o: SourceOptions): Promise<Source> {
  switch (o.kind) {
    case 'mongodb':
      return openMongo(o);
    case 'postgres':
      return openPostgres(o);
    case 'sqlite':
      return openSqlite(o);
    default:
      throw new ThreadlogError('invalid-options', `unknown source ${JSON.stringify(o.kind)}: use one of ${sourceKinds.join(', ')}`);
  }
}

async function openMongo(o: SourceOptions): Promise<Source> {
  if (!/^mongodb(\+srv)?:\/\//.test(o.location)) throw new ThreadlogError('invalid-options', `--from mongodb needs a mongodb:// URL, got ${JSON.stringify(redact(o.location))}`);
  const { MongoDBSaver } = await load<typeof MongoSaverPkg>('@langchain/langgraph-checkpoint-mongodb', '@langchain/langgraph-checkpoint-mongodb');
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(o.location, { serverSelectionTimeoutMS: 5_000 });
  const urlDb = /^mongodb(?:\+srv)?:\/\/[^/]+\/([^?]+)/.exec(o.location)?.[1];
  const dbName = o.mongoDbName ?? (urlDb ? decodeURIComponent(urlDb) : undefined);
  if (!dbName) {
    await client.close();
    throw new ThreadlogError('invalid-options', 'the MongoDB source needs a database: put it in the URL path (mongodb://host:27017/<db>) or pass --source-db');
  }
  const saver = new MongoDBSaver({ client, dbName });
  const identity = `${redact(o.location).replace(/\/[^/?]*(\?.*)?$/, '')}/${dbName}`;
  return {
    kind: 'mongodb',
    key: keyOf('mongodb', identity),
    label: `${redact(o.location)} (database ${dbName})`,
    saver,
    async threadIds() {
      const ids = await client.db(dbName).collection('checkpoints').distinct('thread_id');
      return (ids as unknown[]).map(String).sort();
    },
    close: () => client.close(),
  };
}

async function openPostgres(o: SourceOptions): Promise<Source> {
  if (!/^postgres(ql)?:\/\//.test(o.location)) throw new ThreadlogError('invalid-options', `--from postgres needs a postgres:// URL, got ${JSON.stringify(redact(o.location))}`);
  const { PostgresSaver } = await load<typeof PostgresSaverPkg>('@langchain/langgraph-checkpoint-postgres', '@langchain/langgraph-checkpoint-postgres pg');
  const pg = await load<typeof PgPkg & { default: typeof PgPkg }>('pg', 'pg');
  const schema = o.postgresSchema ?? 'public';
  const pool = new pg.default.Pool({ connectionString: o.location, max: 4 });
  // an idle pooled client whose server connection ends (restart, DROP DATABASE) emits an error
  // on the pool; without a listener it would crash the process after the import is done
  pool.on('error', () => undefined);
  const saver = new PostgresSaver(pool, undefined, { schema });
  const table = `"${schema.replace(/"/g, '""')}".checkpoints`;
  return {
    kind: 'postgres',
    key: keyOf('postgres', `${redact(o.location)}#${schema}`),
    label: `${redact(o.location)} (schema ${schema})`,
    saver,
    async threadIds() {
      try {
        const r = await pool.query<{ thread_id: string }>(`SELECT DISTINCT thread_id FROM ${table} ORDER BY thread_id`);
        return r.rows.map((row) => row.thread_id);
      } catch (e) {
        throw new ThreadlogError('invalid-options', `reading ${table} failed: ${(e as Error).message} — is this a PostgresSaver database (and --source-schema right)?`, { cause: e });
      }
    },
    close: () => pool.end(),
  };
}

async function openSqlite(o: SourceOptions): Promise<Source> {
  const { SqliteSaver } = await load<typeof SqliteSaverPkg>('@langchain/langgraph-checkpoint-sqlite', '@langchain/langgraph-checkpoint-sqlite better-sqlite3');
  const sqlite = await load<{ default: typeof BetterSqlite3 }>('better-sqlite3', 'better-sqlite3');
  const file = path.resolve(o.location);
  let db: BetterSqlite3.Database;
  try {
    db = new sqlite.default(file, { fileMustExist: true });
  } catch (e) {
    throw new ThreadlogError('invalid-options', `cannot open the SQLite file ${file}: ${(e as Error).message} — pass the file SqliteSaver.fromConnString() was given`, { cause: e });
  }
  const saver = new SqliteSaver(db);
  return {
    kind: 'sqlite',
    key: keyOf('sqlite', file),
    label: file,
    saver,
    async threadIds() {
      try {
        return (db.prepare('SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id').all() as Array<{ thread_id: string }>).map((r) => r.thread_id);
      } catch (e) {
        throw new ThreadlogError('invalid-options', `${file} has no SqliteSaver checkpoints table: ${(e as Error).message}`, { cause: e });
      }
    },
    async close() {
      db.close();
    },
  };
}
