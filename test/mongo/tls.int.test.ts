/**
 * FerretDB with TLS (issue 15, item 6): the test starts its own FerretDB on the stack's
 * PostgreSQL with a TLS listener only, its certificate signed by a CA the test made. A store
 * and a projector given `tls=true&tlsCAFile=` work through it; a store that does not trust the
 * certificate answers reads with a typed error naming MongoDB and the setting.
 * (Credentials are not tested: FerretDB passes them to PostgreSQL, which trusts local users.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCheckpointStore, createProjector, isThreadlogError } from '../../src/index.ts';
import { checkpoint, GENERATION, PARTITIONS } from '../store/helpers.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { freePort, makeTestPki, type TestPki } from '../support/tls.ts';

const stack = useIsolatedStack();
const root = path.resolve(import.meta.dirname, '../..');
// tests are entry points: the local stack's files and ports, as infra/stack.sh has them
const local = process.env.THREADLOG_LOCAL_DIR ?? path.join(root, '.local');
const pgPort = process.env.THREADLOG_PG_PORT ?? '15432';
let pki: TestPki;
let port: number;
let ferret: ChildProcess | undefined;

const tlsUrl = (caFile: string): string => `mongodb://127.0.0.1:${port}/?tls=true&tlsCAFile=${encodeURIComponent(caFile)}`;
const storeWith = (url: string) =>
  createCheckpointStore({
    kafka: { brokers: stack.endpoints.kafkaBrokers },
    mongo: { url, options: { serverSelectionTimeoutMS: 3_000 } },
    redis: false,
    dbName: stack.dbName,
    topicPrefix: stack.topicPrefix,
    partitions: PARTITIONS,
    generation: GENERATION,
    readTimeoutMs: 20_000,
  });
const errorOf = async (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);

beforeAll(async () => {
  pki = makeTestPki('ferretdb-tls');
  port = await freePort();
  const bin = readdirSync(path.join(local, 'bin')).find((f) => f.startsWith('ferretdb-'));
  if (bin === undefined) throw new Error(`no FerretDB binary in ${path.join(local, 'bin')}: start the stack (npm run infra:up)`);
  const backendFile = path.join(local, 'run', 'ferretdb.backend');
  const backend = existsSync(backendFile) ? readFileSync(backendFile, 'utf8').trim() : 'postgresql';
  const state = path.join(pki.dir, 'state');
  mkdirSync(state);
  const args = [
    '--listen-addr=',
    `--listen-tls=127.0.0.1:${port}`,
    `--listen-tls-cert-file=${pki.certFile}`,
    `--listen-tls-key-file=${pki.keyFile}`,
    `--state-dir=${state}`,
    '--telemetry=disable',
    '--debug-addr=-',
    '--log-level=warn',
    `--handler=${backend}`,
    backend === 'sqlite' ? `--sqlite-url=file:${path.join(local, 'data', 'ferretdb-sqlite')}/` : `--postgresql-url=postgres://postgres@127.0.0.1:${pgPort}/ferretdb?pool_max_conns=10`,
  ];
  const proc = spawn(path.join(local, 'bin', bin), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  ferret = proc;
  let log = '';
  proc.stderr.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  // up when it answers a TLS hello with our CA
  const probe = await storeWith(tlsUrl(pki.caFile));
  try {
    await waitFor(async () => proc.exitCode !== null || (await probe.health()).services.mongodb.ok, { timeoutMs: 30_000, what: 'FerretDB with TLS' });
  } finally {
    await probe.close();
  }
  if (proc.exitCode !== null) throw new Error(`FerretDB exited: ${log}`);
});

afterAll(async () => {
  if (ferret && ferret.exitCode === null) {
    const exited = new Promise((r) => ferret!.once('exit', r));
    ferret.kill('SIGTERM');
    await exited;
  }
});

describe('FerretDB over TLS', () => {
  it('the store and the projector work through it', async () => {
    const projector = createProjector({
      topicPrefix: stack.topicPrefix,
      generation: GENERATION,
      partitions: PARTITIONS,
      brokers: stack.endpoints.kafkaBrokers,
      mongoUrl: tlsUrl(pki.caFile),
      mongoDbName: stack.dbName,
      sessionTimeoutMs: 10_000,
    });
    await projector.start();
    const store = await storeWith(tlsUrl(pki.caFile));
    try {
      const threadId = stack.unique('tls');
      const cp = checkpoint({ messages: ['over TLS to FerretDB'] }, 1);
      await store.save({ threadId, checkpoint: cp, metadata: { source: 'loop', step: 1, parents: {} } });
      const other = await storeWith(tlsUrl(pki.caFile));
      try {
        expect((await other.load({ threadId }, { consistency: 'strong' }))?.checkpoint.channel_values).toEqual(cp.channel_values);
      } finally {
        await other.close();
      }
    } finally {
      await store.close();
      await projector.stop();
    }
  });

  it('an untrusted certificate is tls-untrusted naming MongoDB and the setting: the store refuses to start', async () => {
    const e = await errorOf(storeWith(tlsUrl(pki.otherCaFile)));
    expect(isThreadlogError(e, 'tls-untrusted'), String(e)).toBe(true);
    expect((e as Error).message).toMatch(/^MongoDB at the configured URL: its TLS certificate is not trusted/);
    expect((e as Error).message).toContain('tlsCAFile');
  });
});
