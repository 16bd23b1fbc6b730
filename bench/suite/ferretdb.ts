/**
 * FerretDB for the two MongoDB-wire savers. The local stack's (THREADLOG_MONGO_URL or :27018)
 * when it answers a ping within a few seconds; otherwise — it is shared with other work and
 * can be wedged or restarted mid-run — a private FerretDB 1.24.2 with the stack's default
 * SQLite backend on 127.0.0.1:27218, data in a temp dir, stopped and removed by stop().
 * Both MongoDBSaver and ThreadlogSaver's projector use whichever this returns.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';

export interface FerretDb {
  url: string;
  origin: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

async function answers(url: string, ms: number): Promise<boolean> {
  const c = new MongoClient(url, { serverSelectionTimeoutMS: ms, connectTimeoutMS: ms, socketTimeoutMS: ms });
  try {
    await c.connect();
    await c.db('admin').command({ ping: 1 });
    await c.db('admin').admin().listDatabases({ nameOnly: true });
    return true;
  } catch {
    return false;
  } finally {
    await c.close().catch(() => undefined);
  }
}

export async function ferretDb(root: string, url: string, log: (s: string) => void): Promise<FerretDb> {
  if (await answers(url, 5_000)) return { url, origin: `the local stack's FerretDB (${url})`, pid: undefined, stop: async () => undefined };
  const bin = process.env.BENCH_FERRETDB_BIN ?? path.join(root, '.local/bin/ferretdb-v1.24.2');
  if (!existsSync(bin)) throw new Error(`FerretDB at ${url} does not answer and there is no ${bin} to start a private one`);
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-suite-ferretdb-'));
  mkdirSync(path.join(dir, 'sqlite'));
  mkdirSync(path.join(dir, 'state'));
  const port = 27218;
  log(`FerretDB at ${url} does not answer within 5 s: starting a private FerretDB (SQLite backend) on 127.0.0.1:${port}`);
  const child = spawn(bin, [`--listen-addr=127.0.0.1:${port}`, `--state-dir=${path.join(dir, 'state')}`, '--handler=sqlite', `--sqlite-url=file:${path.join(dir, 'sqlite')}/`, '--telemetry=disable', '--debug-addr=-', '--log-level=error'], {
    stdio: 'ignore',
  });
  const own = `mongodb://127.0.0.1:${port}/`;
  const deadline = Date.now() + 30_000;
  while (!(await answers(own, 1_000))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error('the private FerretDB did not start');
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  let stopped: Promise<void> | undefined;
  return {
    url: own,
    origin: `a private FerretDB 1.24.2 (SQLite backend, ${own}) — the stack's did not answer`,
    pid: child.pid,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(t);
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
