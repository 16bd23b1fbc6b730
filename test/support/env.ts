/**
 * Where the local stack listens, read once from the environment (same variables and
 * defaults as infra/stack.sh). Tests are entry points, so they may read process.env.
 */
export interface StackEndpoints {
  kafkaBrokers: string[];
  mongoUrl: string;
  redisUrl: string;
}

export function stackEndpoints(env: NodeJS.ProcessEnv = process.env): StackEndpoints {
  const kafkaPort = env.THREADLOG_KAFKA_PORT ?? '19092';
  const mongoPort = env.THREADLOG_MONGO_PORT ?? '27018';
  const redisPort = env.THREADLOG_REDIS_PORT ?? '16379';
  return {
    kafkaBrokers: (env.THREADLOG_KAFKA_BROKERS ?? `127.0.0.1:${kafkaPort}`).split(','),
    mongoUrl: env.THREADLOG_MONGO_URL ?? `mongodb://127.0.0.1:${mongoPort}/`,
    redisUrl: env.THREADLOG_REDIS_URL ?? `redis://127.0.0.1:${redisPort}`,
  };
}
