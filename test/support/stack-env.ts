import type { IsolatedStack } from './isolation.ts';

/**
 * The THREADLOG_* variables that point an entry point (CLI, projector process) at a test
 * file's own topics, database and Redis prefix; callers add generation, partitions etc.
 */
export function stackEnvVars(stack: IsolatedStack): Record<string, string> {
  return {
    THREADLOG_KAFKA_BROKERS: stack.endpoints.kafkaBrokers.join(','),
    THREADLOG_MONGO_URL: stack.endpoints.mongoUrl,
    THREADLOG_MONGO_DB: stack.dbName,
    THREADLOG_REDIS_URL: stack.endpoints.redisUrl,
    THREADLOG_REDIS_PREFIX: stack.redisPrefix,
    THREADLOG_TOPIC_PREFIX: stack.topicPrefix,
  };
}
