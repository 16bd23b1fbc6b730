/**
 * The viewer wired from clients the caller owns (and closes): the data it reads, the live
 * feed on the projector's watermarks, and the HTTP server. `threadlog ui` and the tests
 * start it through here.
 */
import type { Db } from 'mongodb';
import type { RedisClient } from '../redis/client.ts';
import type { Kafka } from '../kafka/client.ts';
import { checkpointsTopic } from '../kafka/topics.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { createProjectionStore } from '../mongo/projection-store.ts';
import { createRedisCache } from '../redis/cache.ts';
import { createRedisGuard } from '../store/redis-guard.ts';
import type { CheckpointStore } from '../store/types.ts';
import { createWatermarkWaiter } from '../store/watermarks.ts';
import { createViewerData, type ViewerData } from './data.ts';
import { createLiveFeed, type LiveFeed } from './live.ts';
import type { MetaStore } from '../mongo/meta.ts';
import { followGeneration, type ServedGeneration } from '../store/generation-follow.ts';
import { startUiServer, type UiServer } from './server.ts';
import { defaultAssetsDir } from './static.ts';

export interface ViewerOptions {
  kafka: Kafka;
  db: Db;
  /** for the watermarks (pub/sub and the key); undefined: MongoDB's applied offsets are polled */
  redis: RedisClient | undefined;
  /** a store reading the same generation; never written through */
  store: CheckpointStore;
  topicPrefix: string;
  partitions: number;
  generation: string;
  /** the generation's Redis key prefix (where its projector publishes watermarks) */
  redisPrefix: string;
  host?: string;
  port?: number;
  token?: string;
  assetsDir?: string;
  logger?: Logger;
  /**
   * follow the generation pointer (threadlog rebuild --switch) as an unpinned store does:
   * `basePrefix` is the Redis prefix generations derive theirs from; without it the viewer
   * reads `generation` for its life
   */
  follow?: { meta: MetaStore; basePrefix: string; pollMs?: number };
}

export const defaultViewerOptions = { host: '127.0.0.1', port: 4780, assetsDir: defaultAssetsDir, logger: silentLogger };

export interface Viewer extends UiServer {
  generation: string;
}

/** what reads one generation: its data, its watermark waiter, the live feed on it */
function generationSide(o: ViewerOptions & typeof defaultViewerOptions, g: ServedGeneration, logger: Logger): { data: ViewerData; feed: LiveFeed } {
  const topic = checkpointsTopic(o.topicPrefix);
  const data = createViewerData({ db: o.db, generation: g.generation, store: o.store, kafka: o.kafka, topic, partitions: o.partitions });
  const waiter = createWatermarkWaiter({
    topic,
    cache: o.redis === undefined ? undefined : createRedisCache({ redis: o.redis, prefix: g.redisPrefix, logger }),
    guard: createRedisGuard({ enabled: o.redis !== undefined, timeoutMs: 250, cooldownMs: 1_000, logger, onDegraded: () => undefined }),
    projection: createProjectionStore({ db: o.db, generation: g.generation }),
    logger,
    slowPollMs: 1_000,
    mongoPollMs: 500,
  });
  return { data, feed: createLiveFeed({ waiter, logger }) };
}

export async function startViewer(options: ViewerOptions): Promise<Viewer> {
  const o = { ...defaultViewerOptions, ...options };
  const logger = o.logger.child({ component: 'ui' });
  let served: ServedGeneration = { generation: o.generation, redisPrefix: o.redisPrefix };
  let side = generationSide(o, served, logger);
  // the server holds these for its life; they read whichever generation serves now
  const data: ViewerData = {
    partitions: o.partitions,
    threads: (q) => side.data.threads(q),
    thread: (id, q) => side.data.thread(id, q),
    checkpoint: (id, ns, cp) => side.data.checkpoint(id, ns, cp),
    diff: (id, ns, cp) => side.data.diff(id, ns, cp),
    audit: (id) => side.data.audit(id),
    lag: (p) => side.data.lag(p),
    close: () => side.data.close(),
  };
  // open live streams move to the new generation's feed on a switch, and are told to refresh
  const watches = new Set<{ partition: number; onMove: () => void; stop: () => void }>();
  const feed: LiveFeed = {
    watch(partition, onMove) {
      const w = { partition, onMove, stop: side.feed.watch(partition, onMove) };
      watches.add(w);
      return () => {
        watches.delete(w);
        w.stop();
      };
    },
    close: () => side.feed.close(),
  };
  const follow =
    o.follow === undefined
      ? undefined
      : await followGeneration({
          meta: o.follow.meta,
          redis: o.redis,
          basePrefix: o.follow.basePrefix,
          current: served,
          pollMs: o.follow.pollMs ?? 5_000,
          logger,
          async onSwitch(next) {
            const old = side;
            served = next;
            side = generationSide(o, next, logger);
            for (const w of watches) {
              w.stop();
              w.stop = side.feed.watch(w.partition, w.onMove);
              w.onMove();
            }
            await old.feed.close();
            await old.data.close();
          },
        });
  let server: UiServer;
  try {
    server = await startUiServer({ host: o.host, port: o.port, assetsDir: o.assetsDir, data, feed, logger, ...(o.token === undefined ? {} : { token: o.token }) });
  } catch (e) {
    await follow?.close();
    await feed.close();
    await data.close();
    throw e;
  }
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      await follow?.close();
      await server.close();
      await feed.close();
      await data.close();
    })());
  return {
    url: server.url,
    openUrl: server.openUrl,
    get generation() {
      return served.generation;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
