/**
 * Redis with TLS and an ACL user limited to threadlog's key prefix (issue 15, item 6): the
 * test makes a CA and a server certificate with openssl, starts its own redis-server with a
 * TLS port only, no default user and one user that may touch only keys and channels under
 * this file's prefix. The store, the projector and `threadlog health` work through it; the
 * user cannot read outside its prefix; a wrong password and an untrusted certificate are
 * typed errors that name Redis and the setting to fix.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeServices } from '../../src/health.ts';
import { createCheckpointStore, createProjector, isThreadlogError } from '../../src/index.ts';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { checkpoint, GENERATION, PARTITIONS } from '../store/helpers.ts';
import { freePort, makeTestPki, type TestPki } from '../support/tls.ts';

const stack = useIsolatedStack();
const password = 'tl-secret-pw';
let port: number;
let server: ChildProcess | undefined;
let pki: TestPki;
let ca: Buffer;
let otherCa: Buffer;

const url = (pw = password): string => `rediss://threadlog:${pw}@127.0.0.1:${port}`;
const storeWith = (redisUrl: string, tlsCa: Buffer | undefined) =>
  createCheckpointStore({
    kafka: { brokers: stack.endpoints.kafkaBrokers },
    mongo: { url: stack.endpoints.mongoUrl },
    redis: { url: redisUrl, ...(tlsCa ? { options: { tls: { ca: tlsCa } } } : {}) },
    dbName: stack.dbName,
    topicPrefix: stack.topicPrefix,
    redisKeyPrefix: stack.redisPrefix,
    partitions: PARTITIONS,
    generation: GENERATION,
    readTimeoutMs: 15_000,
  });
const errorOf = async (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);

beforeAll(async () => {
  pki = makeTestPki('redis-tls');
  ({ ca, otherCa } = pki);
  const dir = pki.dir;
  port = await freePort();
  const conf = path.join(dir, 'redis.conf');
  writeFileSync(
    conf,
    [
      'port 0',
      `tls-port ${port}`,
      'bind 127.0.0.1',
      `tls-cert-file ${pki.certFile}`,
      `tls-key-file ${pki.keyFile}`,
      `tls-ca-cert-file ${pki.caFile}`,
      'tls-auth-clients no',
      'save ""',
      'appendonly no',
      `dir ${dir}`,
      'user default off',
      // only this file's prefix, keys and pub/sub channels; INFO for the clients' checks; nothing dangerous
      `user threadlog on >${password} ~${stack.redisPrefix}* &${stack.redisPrefix}* +@all -@dangerous +info`,
      // the test's own, to read the ACL log
      `user admin on >${password}-admin ~* &* +@all`,
      '',
    ].join('\n'),
  );
  const proc = spawn('redis-server', [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  server = proc;
  let log = '';
  proc.stdout.on('data', (b: Buffer) => (log += b.toString()));
  await waitFor(() => log.includes('Ready to accept connections') || proc.exitCode !== null, { timeoutMs: 15_000, what: 'the TLS redis-server' });
  if (proc.exitCode !== null) throw new Error(`redis-server exited: ${log}`);
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
});

describe('Redis over TLS with an ACL user limited to the prefix', () => {
  it('the store and the projector work through it, and the user reaches nothing outside its prefix', async () => {
    const projector = createProjector({
      topicPrefix: stack.topicPrefix,
      generation: GENERATION,
      partitions: PARTITIONS,
      brokers: stack.endpoints.kafkaBrokers,
      mongoUrl: stack.endpoints.mongoUrl,
      mongoDbName: stack.dbName,
      redisUrl: url(),
      redisOptions: { tls: { ca } },
      redisPrefix: stack.redisPrefix,
      sessionTimeoutMs: 10_000,
    });
    await projector.start();
    const writer = await storeWith(url(), ca);
    const reader = await storeWith(url(), ca);
    try {
      const threadId = stack.unique('tls');
      const cp = checkpoint({ messages: ['over TLS'] }, 1);
      await writer.save({ threadId, checkpoint: cp, metadata: { source: 'loop', step: 1, parents: {} } });
      expect((await reader.load({ threadId }, { consistency: 'strong' }))?.checkpoint.channel_values).toEqual(cp.channel_values);
      const h = await reader.health();
      expect(h.services.redis).toMatchObject({ ok: true });

      const direct = new Redis(url(), { tls: { ca } });
      try {
        // the projector and the reader cached the thread under the prefix, through the ACL
        await waitFor(async () => (await direct.scan('0', 'MATCH', `${stack.redisPrefix}*`, 'COUNT', 1000))[1].length > 0, { what: 'keys under the prefix' });
        expect(await errorOf(direct.get('elsewhere:key'))).toMatchObject({ message: expect.stringMatching(/^NOPERM/) });
        expect(await errorOf(direct.flushall())).toMatchObject({ message: expect.stringMatching(/^NOPERM/) });
      } finally {
        direct.disconnect();
      }
      // the store and the projector never hit the ACL (the store would fall back to MongoDB silently): only the two probes above did
      const admin = new Redis(`rediss://admin:${password}-admin@127.0.0.1:${port}`, { tls: { ca } });
      try {
        const denied = ((await admin.call('ACL', 'LOG')) as unknown[][]).map((entry) => {
          const o: Record<string, unknown> = {};
          for (let i = 0; i + 1 < entry.length; i += 2) o[String(entry[i])] = entry[i + 1];
          return `${String(o.reason)} ${String(o.object)}`;
        });
        expect(denied.sort()).toEqual(['command flushall', 'key elsewhere:key']);
      } finally {
        admin.disconnect();
      }
    } finally {
      await writer.close();
      await reader.close();
      await projector.stop();
    }
  });

  it('a wrong password is auth-failed naming Redis and the setting, for the store, the projector and health', async () => {
    const e = await errorOf(storeWith(url('wrong'), ca));
    expect(isThreadlogError(e, 'auth-failed')).toBe(true);
    expect((e as Error).message).toMatch(/^Redis at rediss:\/\/\*\*\*@127\.0\.0\.1:\d+ refused our credentials/);
    expect((e as Error).message).toContain('THREADLOG_REDIS_URL');

    const projector = createProjector({ topicPrefix: stack.topicPrefix, generation: GENERATION, partitions: PARTITIONS, brokers: stack.endpoints.kafkaBrokers, mongoUrl: stack.endpoints.mongoUrl, mongoDbName: stack.dbName, redisUrl: url('wrong'), redisOptions: { tls: { ca } }, redisPrefix: stack.redisPrefix });
    const pe = await errorOf(projector.start());
    await projector.stop();
    expect(isThreadlogError(pe, 'auth-failed')).toBe(true);

    const probe = await probeServices({ ...stack.endpoints, redisUrl: url('wrong'), redisTlsCa: ca });
    expect(probe.redis).toMatchObject({ ok: false, error: expect.stringContaining('refused our credentials') });
  });

  it('an untrusted certificate is tls-untrusted naming Redis and the setting; the right CA passes health', async () => {
    for (const tlsCa of [undefined, otherCa]) {
      const e = await errorOf(storeWith(url(), tlsCa));
      expect(isThreadlogError(e, 'tls-untrusted')).toBe(true);
      expect((e as Error).message).toContain('Redis at rediss://***@127.0.0.1');
      expect((e as Error).message).toContain('THREADLOG_REDIS_TLS_CA_FILE');
    }
    const bad = await probeServices({ ...stack.endpoints, redisUrl: url(), redisTlsCa: otherCa });
    expect(bad.redis).toMatchObject({ ok: false, error: expect.stringContaining('TLS certificate is not trusted') });
    const good = await probeServices({ ...stack.endpoints, redisUrl: url(), redisTlsCa: ca });
    expect(good.redis).toMatchObject({ ok: true });
  });
});
