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
import { createViewerData } from './data.ts';
import { createLiveFeed } from './live.ts';
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
}

export const defaultViewerOptions = { host: '127.0.0.1', port: 4780, assetsDir: defaultAssetsDir, logger: silentLogger };

export interface Viewer extends UiServer {
  generation: string;
}

export async function startViewer(options: ViewerOptions): Promise<Viewer> {
  const o = { ...defaultViewerOptions, ...options };
  const topic = checkpointsTopic(o.topicPrefix);
  const data = createViewerData({ db: o.db, generation: o.generation, store: o.store, kafka: o.kafka, topic, partitions: o.partitions });
  const logger = o.logger.child({ component: 'ui' });
  const waiter = createWatermarkWaiter({
    topic,
    cache: o.redis === undefined ? undefined : createRedisCache({ redis: o.redis, prefix: o.redisPrefix, logger }),
    guard: createRedisGuard({ enabled: o.redis !== undefined, timeoutMs: 250, cooldownMs: 1_000, logger, onDegraded: () => undefined }),
    projection: createProjectionStore({ db: o.db, generation: o.generation }),
    logger,
    slowPollMs: 1_000,
    mongoPollMs: 500,
  });
  const feed = createLiveFeed({ waiter, logger });
  let server: UiServer;
  try {
    server = await startUiServer({ host: o.host, port: o.port, assetsDir: o.assetsDir, data, feed, logger, ...(o.token === undefined ? {} : { token: o.token }) });
  } catch (e) {
    await feed.close();
    await data.close();
    throw e;
  }
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      await server.close();
      await feed.close();
      await data.close();
    })());
  return { url: server.url, openUrl: server.openUrl, generation: o.generation, close, [Symbol.asyncDispose]: close };
}
