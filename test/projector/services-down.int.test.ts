/**
 * MongoDB or Redis goes away mid-load, for the projector only: it reaches them through a TCP
 * proxy (test/support/tcp-proxy.ts) that the test switches off while the log is written.
 * Meanwhile readiness names the service, committed offsets never pass what is applied
 * (MongoDB's applied offsets, Redis' watermarks), and the projector backs off instead of
 * spinning. Switched on again, it resumes by itself, and the projection ends equal to one
 * built from scratch from the same log by an undisturbed projector.
 *
 * MongoDB is black-holed (connections kept, no byte answered), the harder case: only the
 * client's socket and server-selection timeouts get the projector out of a call in flight.
 * Redis is refused (port closed, connections reset), as a stopped server.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import type { Db } from 'mongodb';
import { Registry } from 'prom-client';
import { useIsolatedStack, waitFor } from '../support/isolation.ts';
import { hostPort, startTcpProxy, type ProxyState, type TcpProxy } from '../support/tcp-proxy.ts';
import { createWorkload, type Workload } from '../../bench/workload.ts';
import { createProjectionStore } from '../../src/mongo/projection-store.ts';
import { createRedisCache } from '../../src/redis/cache.ts';
import type { Projector } from '../../src/projector/index.ts';
import { committedOffsets, dumpGeneration, embeddedProjector, endOffsets, expectSameGeneration, logWriter, makeTopics, waitCaughtUp, type LogWriter } from './helpers.ts';

const stack = useIsolatedStack();
const PARTITIONS = 4;
const THREADS = 30;
const STEPS = 12;
const backoff = { initialMs: 50, maxMs: 800, multiplier: 2, jitter: 0.2 };
// short client timeouts: a black-holed call fails within seconds into the back-off
const timeouts = { mongoSocketTimeoutMs: 1_500, mongoServerSelectionTimeoutMs: 1_500, redisCommandTimeoutMs: 1_500 };
const small = { maxBytesPerPartition: 16 * 1024, backoff, ...timeouts };
let topic: string;
let db: Db;
let writer: LogWriter;
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  topic = await makeTopics(stack, PARTITIONS);
  db = (await stack.mongo()).db(stack.dbName);
  writer = logWriter(stack, createWorkload().codec, PARTITIONS);
});

afterAll(async () => {
  await writer.close();
  await Promise.all(proxies.map((p) => p.close()));
});

async function proxyTo(url: string): Promise<TcpProxy> {
  const p = await startTcpProxy(hostPort(url));
  proxies.push(p);
  return p;
}
const viaProxy = (url: string, p: TcpProxy): string => {
  const u = new URL(url);
  u.host = `127.0.0.1:${p.port}`;
  return u.toString();
};

/**
 * Committed offsets never past what is applied: the committed offset is read first and the
 * applied one after, so a later apply can only make the check easier, never mask a skip.
 */
async function checkNoCommitPastApplied(groupId: string, applied: () => Promise<Map<number, string>>): Promise<void> {
  const committed = await committedOffsets(stack, groupId, topic);
  const done = await applied();
  for (const [p, next] of committed) {
    if (next === '-1') continue;
    expect(BigInt(done.get(p) ?? '-1'), `partition ${p}: committed ${next}, applied through ${done.get(p)}`).toBeGreaterThanOrEqual(BigInt(next) - 1n);
  }
}

/** Write the workload; after `outageAt` steps switch the proxy to `down` until `outageSteps` more are written. */
async function loadWithOutage(
  workload: Workload,
  projector: Projector,
  proxy: TcpProxy,
  down: ProxyState,
  cause: 'mongo' | 'redis',
  during: () => Promise<void>,
): Promise<{ reasons: string[]; upAt: number }> {
  let reasons: string[] = [];
  let upAt = 0;
  let step = 0;
  for await (const events of workload.all()) {
    await writer.write(events);
    step += 1;
    if (step === 4) {
      // something applied before the outage, so it lands mid-load, not before the start
      await waitFor(() => [...projector.lag().values()].some((l) => l.through !== undefined), { timeoutMs: 60_000, what: 'a first applied batch' });
      await proxy.set(down);
      reasons = await waitFor(() => {
        const r = projector.ready().filter((x) => x.startsWith(`${cause} unavailable`));
        return r.length > 0 ? r : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100, what: `readiness to report ${cause} unavailable` });
    }
    if (step >= 4 && proxy.state !== 'up') await during();
    if (step === 8) {
      // a few samples with the service down and the log growing under it
      for (let i = 0; i < 5; i++) {
        await during();
        await new Promise((r) => setTimeout(r, 300));
      }
      upAt = Date.now();
      await proxy.set('up');
    }
  }
  return { reasons, upAt };
}

/** The same log into a fresh generation by an undisturbed projector without Redis. */
async function scratchEqual(generation: string, scratchGeneration: string): Promise<void> {
  const scratch = embeddedProjector(stack, { generation: scratchGeneration, redisUrl: undefined });
  await scratch.start();
  const ends = await endOffsets(stack, topic);
  await waitFor(async () => {
    const committed = await committedOffsets(stack, scratch.groupId, topic);
    return [...ends].every(([p, end]) => end === '0' || committed.get(p) === end);
  }, { timeoutMs: 90_000, intervalMs: 300, what: 'the scratch projection to reach the end offsets' });
  await scratch.stop();
  const [got, want] = await Promise.all([dumpGeneration(db, generation), dumpGeneration(db, scratchGeneration)]);
  expectSameGeneration(got, want);
}

async function retries(registry: Registry, service: string): Promise<number> {
  const m = await registry.getSingleMetric('threadlog_projector_retries_total')!.get();
  return m.values.filter((v) => v.labels.service === service).reduce((n, v) => n + v.value, 0);
}

describe('projector with a service down', () => {
  it('MongoDB black-holed mid-load: not ready with the reason, commits nothing unapplied, resumes and ends equal to the log', async () => {
    const proxy = await proxyTo(stack.endpoints.mongoUrl);
    const registry = new Registry();
    const generation = 'mdown';
    const projector = embeddedProjector(stack, { ...small, generation, groupId: `${stack.topicPrefix}.mdown`, registry, mongoUrl: viaProxy(stack.endpoints.mongoUrl, proxy) });
    const store = createProjectionStore({ db, generation });
    await projector.start();
    const workload = createWorkload({ threads: THREADS, steps: STEPS, messageChars: 150, threadPrefix: 'm' });
    const t0 = Date.now();
    const { reasons, upAt } = await loadWithOutage(workload, projector, proxy, 'stall', 'mongo', () =>
      checkNoCommitPastApplied(projector.groupId, () => store.getAppliedOffsets(topic)),
    );
    expect(reasons[0]).toMatch(/^mongo unavailable, retrying \(attempt \d+\): MongoDB unavailable/);
    await waitCaughtUp(stack, stack.redisPrefix, topic, 90_000);
    await checkNoCommitPastApplied(projector.groupId, () => store.getAppliedOffsets(topic));
    expect(projector.ready()).toEqual([]);
    // backed off: far fewer attempts than a retry every initialMs for the whole outage
    const n = await retries(registry, 'mongo');
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(((upAt - t0) / backoff.initialMs) * PARTITIONS);
    expect(await store.listCheckpoints('m-1', '')).toHaveLength(STEPS);
    await scratchEqual(generation, 'mdownscratch');
  });

  it('Redis refused mid-load: cache upkeep pauses with back-off, never skips, and catches up when Redis is back', async () => {
    const proxy = await proxyTo(stack.endpoints.redisUrl);
    const registry = new Registry();
    const generation = 'rdown';
    const redisPrefix = `${stack.redisPrefix}rdown:`;
    const projector = embeddedProjector(stack, { ...small, generation, groupId: `${stack.topicPrefix}.rdown`, registry, redisPrefix, redisUrl: viaProxy(stack.endpoints.redisUrl, proxy) });
    const cache = createRedisCache({ redis: stack.redis(), prefix: redisPrefix });
    const store = createProjectionStore({ db, generation });
    await projector.start();
    const workload = createWorkload({ threads: THREADS, steps: STEPS, messageChars: 150, threadPrefix: 'q' });
    const t0 = Date.now();
    const { reasons, upAt } = await loadWithOutage(workload, projector, proxy, 'refuse', 'redis', async () => {
      // the cache is upkept before the commit: Redis' watermarks bound the committed offsets
      await checkNoCommitPastApplied(projector.groupId, () => cache.getWatermarks(topic));
      await checkNoCommitPastApplied(projector.groupId, () => store.getAppliedOffsets(topic));
    });
    expect(reasons[0]).toMatch(/^redis unavailable, retrying \(attempt \d+\): Redis unavailable/);
    await waitCaughtUp(stack, redisPrefix, topic, 90_000);
    expect(projector.ready()).toEqual([]);
    const n = await retries(registry, 'redis');
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(((upAt - t0) / backoff.initialMs) * PARTITIONS);
    // every thread's newest checkpoint in the cache, the same one MongoDB holds
    for (let t = 0; t < THREADS; t++) {
      const [m, r] = await Promise.all([store.getHead(`q-${t}`, ''), cache.getHead(`q-${t}`, '')]);
      expect(r?.checkpointId, `q-${t}`).toBe(m?.checkpointId);
      expect(r?.position, `q-${t}`).toEqual(m?.position);
    }
    expect((await store.getHead('q-0', ''))?.checkpointId).toBe((await store.listCheckpoints('q-0', '', { limit: 1 }))[0]?.checkpointId);
    await scratchEqual(generation, 'rdownscratch');
  });
});
