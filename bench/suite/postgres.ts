/**
 * PostgreSQL for PostgresSaver: BENCH_PG_URL if given and reachable, else a throwaway cluster
 * from Debian's PostgreSQL 15 binaries (initdb into .local/bench-pg as user postgres, listening
 * on 127.0.0.1:15433 only). Default durability (fsync, synchronous_commit, full_page_writes
 * on): the peers are measured as users would run them. stop() removes what start() made.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { childrenOf } from './cpu.ts';

const BIN = process.env.BENCH_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const PORT = 15433;

export interface PgServer {
  /** connection URL of the maintenance database */
  url: string;
  /** "throwaway cluster" or "external" */
  origin: string;
  version: string;
  settings: Record<string, string>;
  createDatabase(name: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  relationBytes(name: string): Promise<number>;
  /** the server's processes (postmaster and backends) when it runs here */
  pids(): number[];
  stop(): Promise<void>;
}

async function reachable(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

const withUrl = (url: string, db: string): string => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

export async function startPostgres(root: string, log: (s: string) => void): Promise<PgServer> {
  let url = process.env.BENCH_PG_URL ?? `postgres://postgres@127.0.0.1:${PORT}/postgres`;
  let dataDir: string | undefined;
  let origin = 'external';
  if (!(await reachable(url))) {
    if (process.env.BENCH_PG_URL) throw new Error(`BENCH_PG_URL ${process.env.BENCH_PG_URL} is not reachable`);
    if (!existsSync(path.join(BIN, 'initdb'))) throw new Error(`no PostgreSQL at ${BIN}: apt-get install postgresql-15, or set BENCH_PG_URL`);
    dataDir = path.join(root, '.local/bench-pg');
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dataDir, uid, gid);
    const asPostgres = (cmd: string, args: string[]): void => {
      const r = spawnSync('runuser', ['-u', 'postgres', '--', path.join(BIN, cmd), ...args], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout}`);
    };
    log(`starting a throwaway PostgreSQL cluster in ${path.relative(root, dataDir)} on 127.0.0.1:${PORT}`);
    asPostgres('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-instructions']);
    // unix socket in the data dir: nothing outside it is touched
    const opts = `-c listen_addresses=127.0.0.1 -c port=${PORT} -c unix_socket_directories=${dataDir} -c max_connections=200`;
    asPostgres('pg_ctl', ['-D', dataDir, '-o', opts, '-l', path.join(dataDir, 'server.log'), '-w', '-t', '60', 'start']);
    origin = 'throwaway cluster (initdb, default settings)';
    url = `postgres://postgres@127.0.0.1:${PORT}/postgres`;
  }
  const version = (await query<{ v: string }>(url, "select current_setting('server_version') as v"))[0]?.v ?? '?';
  const settings: Record<string, string> = {};
  for (const name of ['fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'wal_level']) {
    settings[name] = (await query<Record<string, string>>(url, `show ${name}`))[0]?.[name] ?? '?';
  }
  return {
    url,
    origin,
    version,
    settings,
    async createDatabase(name) {
      await query(url, `create database "${name}"`);
      return withUrl(url, name);
    },
    async dropDatabase(name) {
      await query(url, `drop database if exists "${name}" with (force)`);
    },
    async relationBytes(name) {
      const rows = await query<{ b: string | null }>(
        withUrl(url, name),
        `select sum(pg_total_relation_size(c.oid))::text as b from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')`,
      );
      return Number(rows[0]?.b ?? 0);
    },
    pids() {
      if (!dataDir) return [];
      try {
        const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
        return [pid, ...childrenOf(pid)];
      } catch {
        return [];
      }
    },
    async stop() {
      if (!dataDir) return;
      spawnSync('runuser', ['-u', 'postgres', '--', path.join(BIN, 'pg_ctl'), '-D', dataDir, '-m', 'fast', '-w', 'stop'], { encoding: 'utf8' });
      rmSync(dataDir, { recursive: true, force: true });
      dataDir = undefined;
    },
  };
}
