/**
 * The Redis prefix a projector process must write under: its generation's own when the
 * generation was built by `threadlog rebuild`, else the base prefix. Read once at start;
 * a MongoDB that is down is waited for (writing a rebuilt generation's heads under the base
 * prefix would overwrite the serving generation's).
 */
import { MongoClient } from 'mongodb';
import type { ThreadlogEnv } from '../../cli/env.ts';
import type { Logger } from '../../logger.ts';
import { createMetaStore, generationRedisPrefix } from '../../mongo/meta.ts';

export async function projectorRedisPrefix(env: ThreadlogEnv, logger: Logger, retryMs = 2_000): Promise<string> {
  const client = new MongoClient(env.mongoUrl, { serverSelectionTimeoutMS: 3_000 });
  try {
    for (;;) {
      try {
        return await generationRedisPrefix(createMetaStore(client.db(env.mongoDb)), env.redisPrefix, env.generation);
      } catch (err) {
        logger.warn({ err }, 'cannot read the generation record yet (MongoDB down?); retrying');
        await new Promise((r) => setTimeout(r, retryMs));
      }
    }
  } finally {
    await client.close();
  }
}
