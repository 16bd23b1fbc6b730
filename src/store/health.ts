/**
 * health(): one round trip to each service with the store's own clients, the projector's
 * lag per partition (log end offset vs watermark) and the cache stats. Kafka or MongoDB
 * down is unhealthy (no saves, or no reads); Redis down or a lagging projector is degraded.
 */
import type { Db } from 'mongodb';
import type { RedisClient } from '../redis/client.ts';
import type { Requirements } from './requirements.ts';
import type { WatermarkWaiter } from './watermarks.ts';
import type { HealthReport, HealthStatus, StoreStats } from './types.ts';

type Probe = HealthReport['services']['kafka'];

async function timed(fn: () => Promise<unknown>, timeoutMs: number): Promise<Probe> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, latencyMs: performance.now() - start };
  } catch (e) {
    return { ok: false, latencyMs: performance.now() - start, error: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
  }
}

export interface HealthDeps {
  requirements: Requirements;
  db: Db;
  redis: RedisClient | undefined;
  waiter: WatermarkWaiter;
  partitions: number;
  maxHealthyLag: number;
  timeoutMs: number;
  stats(): StoreStats;
  /** append deltas the projector recorded without their base (projector/missing-bases.ts) */
  brokenDeltas?(): Promise<number>;
}

export async function checkHealth(d: HealthDeps): Promise<HealthReport> {
  let ends = new Map<number, bigint>();
  let broken = 0;
  const [kafka, mongodb, redis] = await Promise.all([
    // the end offsets are the Kafka round trip and feed the lag
    timed(async () => (ends = await d.requirements.lastOffsets()), d.timeoutMs),
    timed(async () => {
      await d.db.command({ ping: 1 });
      broken = (await d.brokenDeltas?.()) ?? 0;
    }, d.timeoutMs),
    d.redis === undefined ? Promise.resolve<Probe>({ ok: false, latencyMs: 0, error: 'not configured' }) : timed(() => d.redis!.ping(), d.timeoutMs),
  ]);
  const reasons: string[] = [];
  if (!kafka.ok) reasons.push(`kafka: ${kafka.error}`);
  if (!mongodb.ok) reasons.push(`mongodb: ${mongodb.error}`);
  if (!redis.ok) reasons.push(`redis: ${redis.error} (reads go to MongoDB)`);
  if (broken > 0) {
    reasons.push(`${broken} checkpoint value(s) are append deltas without their base in the log: those checkpoints cannot be read (threadlog audit names them; docs/operations.md "Broken delta chains")`);
  }

  const lag: Record<number, number> = {};
  if (kafka.ok && (redis.ok || mongodb.ok)) {
    // every partition with events needs a watermark: one Redis lost is read from MongoDB
    const watermarks = await d.waiter.refresh([...ends].filter(([, last]) => last >= 0n).map(([p]) => p)).catch(() => undefined);
    if (watermarks === undefined) reasons.push('projector watermarks unavailable');
    else {
      for (let p = 0; p < d.partitions; p++) {
        const last = ends.get(p) ?? -1n;
        const applied = watermarks.get(p) ?? -1n;
        lag[p] = Number(last > applied ? last - applied : 0n);
        if (lag[p]! > d.maxHealthyLag) reasons.push(`projector lag on partition ${p}: ${lag[p]} events`);
      }
    }
  }
  const status: HealthStatus = !kafka.ok || !mongodb.ok ? 'unhealthy' : reasons.length > 0 ? 'degraded' : 'healthy';
  return { status, reasons, services: { kafka, mongodb, redis }, lag, stats: d.stats() };
}
