/**
 * The projector process: `npm run projector` or `threadlog projector`. Environment in
 * (src/cli/env.ts), pino logs out, /metrics /healthz /readyz on THREADLOG_OPS_HOST:PORT.
 * SIGTERM/SIGINT stop it gracefully (the batch in progress finishes and is committed); a
 * second signal exits at once. Start-up waits for Kafka with back-off (not ready on /readyz
 * meanwhile); fatal errors exit non-zero with a message saying what to do.
 */
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { parseEnv, type ThreadlogEnv } from '../src/cli/env.ts';
import { isThreadlogError } from '../src/errors.ts';
import { startOpsServer } from '../src/ops/http-server.ts';
import { createProjector } from '../src/projector/index.ts';
import { projectorRedisPrefix } from '../src/ops/rebuild/redis-prefix.ts';

// how often the process checks that the consumer has not crashed for good
const HEALTH_CHECK_MS = 1_000;

/** What to do about a fatal error, in words an operator can act on. */
function advice(e: unknown, env: ThreadlogEnv): string {
  const message = e instanceof Error ? e.message : String(e);
  if (isThreadlogError(e, 'kafka-unavailable')) {
    return `${message}\nKafka at ${env.kafkaBrokers.join(',')} is not reachable: start it (npm run infra:up) or set THREADLOG_KAFKA_BROKERS.`;
  }
  if ((e as { code?: string }).code === 'EADDRINUSE') {
    return `${message}\nthe ops port ${env.opsPort} is taken: set THREADLOG_OPS_PORT to a free port (0 picks one).`;
  }
  return message;
}

export async function runProjector(env: ThreadlogEnv = parseEnv()): Promise<number> {
  const logger = pino({ level: env.logLevel, base: { service: 'threadlog-projector' } });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // a generation built by `threadlog rebuild` keeps its Redis keys under its own prefix
  const redisPrefix = await projectorRedisPrefix(env, logger);
  const projector = createProjector({
    topicPrefix: env.topicPrefix,
    generation: env.generation,
    partitions: env.partitions,
    brokers: env.kafkaBrokers,
    ...(env.kafkaSsl ? { kafkaSsl: env.kafkaSsl } : {}),
    ...(env.kafkaSasl ? { kafkaSasl: env.kafkaSasl } : {}),
    mongoUrl: env.mongoUrl,
    mongoDbName: env.mongoDb,
    redisUrl: env.redisUrl,
    ...(env.redisClusterNodes ? { redisClusterNodes: env.redisClusterNodes } : {}),
    ...(env.redisClusterNatMap ? { redisClusterOptions: { natMap: env.redisClusterNatMap } } : {}),
    ...(env.redisTlsCa ? { redisOptions: { tls: { ca: env.redisTlsCa } } } : {}),
    redisPrefix,
    sessionTimeoutMs: env.projectorSessionTimeoutMs,
    heartbeatIntervalMs: env.projectorHeartbeatMs,
    layout: env.projectionLayout,
    registry,
    logger,
  });
  let ops: Awaited<ReturnType<typeof startOpsServer>> | undefined;
  let resolveExit!: (code: number) => void;
  const exit = new Promise<number>((r) => (resolveExit = r));
  let stopping = false;
  const shutdown = (code: number, why: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ why }, 'stopping');
    void (async () => {
      await projector.stop();
      await ops?.close();
      resolveExit(code);
    })();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(130);
    }
    shutdown(0, signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    ops = await startOpsServer({ host: env.opsHost, port: env.opsPort, registry, health: projector.health, readiness: projector.ready, warnings: projector.warnings });
    await projector.start();
    logger.info({ ops: ops.url, group: projector.groupId, topic: projector.topic }, 'projector running');
  } catch (e) {
    // a signal while start-up waited for Kafka is a stop, not a failure
    if (!stopping) {
      logger.fatal({ err: e }, 'projector failed to start');
      process.stderr.write(`threadlog projector: ${advice(e, env)}\n`);
      shutdown(1, 'start failed');
    }
  }
  const watch = setInterval(() => {
    const sick = projector.health().filter((r) => r !== 'projector stopped');
    if (sick.length > 0 && !stopping) {
      process.stderr.write(`threadlog projector: ${sick.join('; ')}\nrestart the process; check Kafka and the logs above.\n`);
      shutdown(1, 'unhealthy');
    }
  }, HEALTH_CHECK_MS);
  const code = await exit;
  clearInterval(watch);
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  return code;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runProjector().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`threadlog projector: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
