/**
 * ThreadlogSavers on the real local stack, each with its own topics, database and Redis
 * keys (all under the test file's namespace, so useIsolatedStack's clean-up removes them).
 */
import { createCheckpointStore } from '../../src/index.ts';
import { ThreadlogSaver } from '../../src/langgraph/saver.ts';
import type { IsolatedStack } from '../support/isolation.ts';

export function saverFactory(stack: IsolatedStack) {
  const dbs = new Set<string>();
  return {
    async create(): Promise<ThreadlogSaver> {
      const id = stack.unique('saver');
      dbs.add(id);
      const store = await createCheckpointStore({
        kafka: { brokers: stack.endpoints.kafkaBrokers },
        mongo: { url: stack.endpoints.mongoUrl },
        redis: { url: stack.endpoints.redisUrl },
        dbName: id,
        topicPrefix: id,
        partitions: 3,
        redisKeyPrefix: `${stack.redisPrefix}${id}:`,
        embeddedProjector: true,
      });
      return new ThreadlogSaver({ store, ownsStore: true });
    },
    async destroy(saver: ThreadlogSaver): Promise<void> {
      await saver.close();
    },
    async dropDatabases(): Promise<void> {
      const client = await stack.mongo();
      for (const db of dbs) await client.db(db).dropDatabase();
      dbs.clear();
    },
  };
}
