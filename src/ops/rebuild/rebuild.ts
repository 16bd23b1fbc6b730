/**
 * Rebuild a projection into a NEW generation while the serving one keeps serving: a
 * projector with its own consumer group (`<prefix>.projector.<generation>`), its own
 * collections (`<generation>_*`) and its own Redis prefix reads the log from offset zero.
 * Caught up = its committed offsets reached the end offsets captured at the start, and then
 * stayed within `caughtUpLag` of the moving end for `stableChecks` polls. The switch moves
 * the generation pointer atomically and announces it on Redis; stores that are not pinned
 * follow it (src/store). Nothing of the serving generation is touched until `dropOld`.
 */
import type { Admin } from 'kafkajs';
import { ThreadlogError } from '../../errors.ts';
import { checkpointsTopic } from '../../kafka/topics.ts';
import { silentLogger, type Logger } from '../../logger.ts';
import { rebuiltRedisPrefix, servingGeneration, type GenerationRecord } from '../../mongo/meta.ts';
import type { Registry } from 'prom-client';
import { createProjector, type Projector } from '../../projector/index.ts';
import { deleteKeysMatching } from '../../redis/client.ts';
import { publishGenerationSwitch } from '../../redis/generation.ts';
import type { OpsContext } from '../context.ts';

export interface RebuildProgress {
  generation: string;
  /** events (log records) the new generation has applied */
  applied: number;
  /** records in the log now */
  total: number;
  lag: number;
  eventsPerSecond: number;
  etaSeconds: number | undefined;
  phase: 'catching-up' | 'settling' | 'caught-up';
}

export interface RebuildOptions {
  ctx: OpsContext;
  generation: string;
  /** continue a rebuild of `generation` that was interrupted */
  resume: boolean;
  pollMs: number;
  /** lag (records, all partitions) still counted as caught up while writes go on */
  caughtUpLag: number;
  stableChecks: number;
  logger: Logger;
  onProgress?(p: RebuildProgress): void;
  /** layout of the new generation (projection v2: 2, the default) */
  layout?: 1 | 2;
  /** prom-client registry for the rebuild's projector metrics (documents written among them) */
  registry?: Registry;
}

export const defaultRebuildOptions = { resume: false, pollMs: 1_000, caughtUpLag: 200, stableChecks: 3, logger: silentLogger } satisfies Partial<RebuildOptions>;

export interface Rebuild {
  readonly generation: string;
  readonly record: GenerationRecord;
  readonly projector: Projector;
  /** resolves when the new generation is caught up (and stays so) */
  caughtUp(signal?: AbortSignal): Promise<RebuildProgress>;
  stop(): Promise<void>;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

export const groupIdOf = (topicPrefix: string, generation: string): string => `${topicPrefix}.projector.${generation}`;

/** `v<n+1>` after `v<n>`, else a time-based name. */
export function nextGenerationName(serving: string): string {
  const m = /^v(\d+)$/.exec(serving);
  return m ? `v${Number(m[1]) + 1}` : `g${Date.now().toString(36)}`;
}

async function sumOffsets(admin: Admin, topic: string, groupId?: string): Promise<Map<number, bigint>> {
  if (groupId === undefined) return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
  const res = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map((res[0]?.partitions ?? []).map((p) => [p.partition, p.offset === '-1' ? 0n : BigInt(p.offset)]));
}

async function existingCollections(ctx: OpsContext, generation: string): Promise<string[]> {
  const names = (await ctx.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
  // `<generation>_<kind>`; kinds have no `_`, so generation `v3` never takes `v3_old`'s collections
  // (and kinds added later, like the audit chains, go with their generation)
  return names.filter((n) => n.startsWith(`${generation}_`) && /^[a-z]+$/.test(n.slice(generation.length + 1)));
}

export async function startRebuild(input: Partial<RebuildOptions> & Pick<RebuildOptions, 'ctx' | 'generation'>): Promise<Rebuild> {
  const o: RebuildOptions = { ...defaultRebuildOptions, ...input };
  const { ctx, generation } = o;
  const env = ctx.env;
  if (!NAME.test(generation)) throw new ThreadlogError('invalid-options', `--generation must match ${NAME}: ${JSON.stringify(generation)}`);
  const serving = await servingGeneration(ctx.meta, env.generation);
  if (generation === serving) throw new ThreadlogError('invalid-options', `${generation} is the serving generation: pass another --generation`);
  const topic = checkpointsTopic(env.topicPrefix);
  let record = await ctx.meta.getGeneration(generation);
  if (o.resume) {
    if (!record || record.state === 'serving' || record.state === 'retired') {
      throw new ThreadlogError('invalid-options', `no interrupted rebuild of ${generation} to resume${record ? ` (it is ${record.state})` : ''}: start one with 'threadlog rebuild --generation ${generation}'`);
    }
  } else {
    if (record) throw new ThreadlogError('invalid-options', `${generation} is already being built (${record.state}): continue with --resume, or drop it with --abandon`);
    const left = await existingCollections(ctx, generation);
    if (left.length > 0) throw new ThreadlogError('invalid-options', `collections of ${generation} exist (${left.join(', ')}): pick another --generation, or drop them with 'threadlog rebuild --generation ${generation} --abandon'`);
    record = { generation, redisPrefix: rebuiltRedisPrefix(env.redisPrefix, generation), groupId: groupIdOf(env.topicPrefix, generation), state: 'building', createdAt: new Date() };
    await ctx.meta.putGeneration(record);
  }
  const rec = record;
  const projector = createProjector({
    topicPrefix: env.topicPrefix,
    generation,
    groupId: rec.groupId,
    partitions: env.partitions,
    kafka: ctx.kafka,
    db: ctx.db,
    redis: ctx.redis,
    redisPrefix: rec.redisPrefix,
    logger: o.logger,
    ...(o.layout === undefined ? {} : { layout: o.layout }),
    ...(o.registry === undefined ? {} : { registry: o.registry }),
    // the projector's own fetch sizes and concurrency: larger ones stalled FerretDB's pool
  });
  await projector.start();
  const admin = ctx.kafka.admin();
  await admin.connect();

  async function caughtUp(signal?: AbortSignal): Promise<RebuildProgress> {
    const target = await sumOffsets(admin, topic);
    let last: { at: number; applied: number } | undefined;
    let rate = 0;
    let stable = 0;
    let reachedTarget = false;
    for (;;) {
      if (signal?.aborted) throw new ThreadlogError('closed', 'rebuild interrupted');
      const [ends, committed] = await Promise.all([sumOffsets(admin, topic), sumOffsets(admin, topic, rec.groupId)]);
      let applied = 0;
      let total = 0;
      let lag = 0;
      reachedTarget ||= [...target].every(([p, end]) => (committed.get(p) ?? 0n) >= end);
      for (const [p, end] of ends) {
        const c = committed.get(p) ?? 0n;
        applied += Number(c);
        total += Number(end);
        lag += Number(end > c ? end - c : 0n);
      }
      const now = performance.now();
      if (last) {
        const r = ((applied - last.applied) * 1000) / Math.max(1, now - last.at);
        rate = rate === 0 ? r : 0.7 * rate + 0.3 * r;
      }
      last = { at: now, applied };
      stable = reachedTarget && lag <= o.caughtUpLag ? stable + 1 : 0;
      const phase = stable >= o.stableChecks ? 'caught-up' : reachedTarget ? 'settling' : 'catching-up';
      const p: RebuildProgress = { generation, applied, total, lag, eventsPerSecond: rate, etaSeconds: rate > 0 ? lag / rate : undefined, phase };
      o.onProgress?.(p);
      if (phase === 'caught-up') {
        await ctx.meta.setGenerationState(generation, 'caught-up');
        return p;
      }
      const reasons = projector.health();
      if (reasons.length > 0) throw new ThreadlogError('kafka-unavailable', `the rebuild projector failed: ${reasons.join('; ')} — fix the cause, then continue with --resume`);
      await new Promise((r) => setTimeout(r, o.pollMs));
    }
  }

  let stopped: Promise<void> | undefined;
  return {
    generation,
    record: rec,
    projector,
    caughtUp,
    stop: () =>
      (stopped ??= (async () => {
        await projector.stop();
        await admin.disconnect();
      })()),
  };
}

/**
 * Point readers at `generation`. Atomic on the pointer document: refused if another switch
 * happened since `expected` was read. Returns the previous generation.
 */
export async function switchGeneration(ctx: OpsContext, generation: string): Promise<string> {
  const rec = await ctx.meta.getGeneration(generation);
  if (!rec || (rec.state !== 'caught-up' && rec.state !== 'serving' && rec.state !== 'retired')) {
    throw new ThreadlogError('invalid-options', `${generation} is not caught up (${rec?.state ?? 'unknown'}): run 'threadlog rebuild --generation ${generation} --resume --switch'`);
  }
  const previous = await servingGeneration(ctx.meta, ctx.env.generation);
  if (previous === generation) return previous;
  const pointer = await ctx.meta.getPointer();
  if (!(await ctx.meta.switchPointer(pointer?.current, generation))) {
    throw new ThreadlogError('invalid-options', 'the generation pointer moved while switching (another rebuild?): check with `threadlog rebuild --status` and retry');
  }
  await ctx.meta.setGenerationState(generation, 'serving');
  if (await ctx.meta.getGeneration(previous)) await ctx.meta.setGenerationState(previous, 'retired');
  await publishGenerationSwitch(ctx.redis, ctx.env.redisPrefix, { current: generation, previous }).catch(() => undefined);
  return previous;
}

/** Drop a generation that does not serve: collections, consumer group, Redis keys, record. */
export async function dropGeneration(ctx: OpsContext, generation: string): Promise<{ collections: number; redisKeys: number }> {
  const serving = await servingGeneration(ctx.meta, ctx.env.generation);
  if (generation === serving) throw new ThreadlogError('invalid-options', `${generation} serves reads: switch to another generation first`);
  const rec = await ctx.meta.getGeneration(generation);
  const groupId = rec?.groupId ?? groupIdOf(ctx.env.topicPrefix, generation);
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    const described = await admin.describeGroups([groupId]);
    const members = described.groups[0]?.members.length ?? 0;
    if (members > 0) {
      throw new ThreadlogError('invalid-options', `consumer group ${groupId} has ${members} active member(s): stop the projectors of generation ${generation} (or the rebuild process) first`);
    }
    if ((await admin.listGroups()).groups.some((g) => g.groupId === groupId)) await admin.deleteGroups([groupId]);
  } finally {
    await admin.disconnect();
  }
  const names = await existingCollections(ctx, generation);
  for (const n of names) await ctx.db.collection(n).drop();
  const prefix = rec?.redisPrefix ?? ctx.env.redisPrefix;
  // a legacy generation shares the base prefix with the rebuilt ones' `gen.` sub-prefixes
  const foreign = `${ctx.env.redisPrefix}gen.`;
  // every master of a Redis Cluster, one key per command (keys of many slots)
  const redisKeys = await deleteKeysMatching(ctx.redis, `${prefix}*`, (k) => prefix === ctx.env.redisPrefix && k.startsWith(foreign));
  await ctx.meta.deleteGeneration(generation);
  return { collections: names.length, redisKeys };
}

/** Resolves when the group has a member besides `self` (a projector process took over). */
export async function waitForHandOver(ctx: OpsContext, groupId: string, pollMs: number, signal?: AbortSignal): Promise<boolean> {
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    while (!signal?.aborted) {
      const g = (await admin.describeGroups([groupId])).groups[0];
      if ((g?.members.length ?? 0) > 1) return true;
      await new Promise((r) => setTimeout(r, pollMs));
    }
    return false;
  } finally {
    await admin.disconnect();
  }
}
