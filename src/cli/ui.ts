/**
 * `threadlog ui`: the read-only timeline viewer in the browser (src/ui/), on 127.0.0.1 by
 * default. It reads the serving projection generation and the log; it writes nothing.
 */
import type { Command } from 'commander';
import { pino, destination } from 'pino';
import { isThreadlogError } from '../errors.ts';
import { openOpsContext } from '../ops/context.ts';
import { ensureThreadIndex } from '../mongo/thread-index.ts';
import { createProjectionStore } from '../mongo/projection-store.ts';
import { checkBind } from '../ui/auth.ts';
import { startViewer } from '../ui/viewer.ts';
import { defaultAssetsDir } from '../ui/static.ts';
import { serviceError, processOutput, type Output } from './context.ts';
import { parseEnv, type ThreadlogEnv } from './env.ts';

export interface UiOptions {
  host: string;
  port: number;
  token?: string;
  assetsDir?: string;
}

/** Runs until `stop` resolves (SIGINT/SIGTERM from the command line). */
export async function uiCommand(env: ThreadlogEnv, opts: UiOptions, io: Output, stop: Promise<unknown>): Promise<number> {
  try {
    // refused before anything connects: a network bind without a token, a weak token
    checkBind(opts.host, opts.token);
  } catch (e) {
    io.err(`threadlog ui: ${(e as Error).message}\n`);
    return 2;
  }
  const logger = pino({ level: env.logLevel === 'info' ? 'warn' : env.logLevel, base: { service: 'threadlog-ui' } }, destination(2));
  const ctx = await openOpsContext(env, 'threadlog-ui');
  try {
    await ctx.mongo.connect().catch((e: unknown) => {
      throw serviceError('MongoDB', env.mongoUrl, 'THREADLOG_MONGO_URL', e);
    });
    const { generation, redisPrefix } = await ctx.serving();
    const store = await ctx.openStore({ consistency: 'eventual', ensureTopics: false, embeddedProjector: false, logger }).catch((e: unknown) => {
      if (isThreadlogError(e, 'kafka-unavailable')) throw serviceError('Kafka', env.kafkaBrokers.join(','), 'THREADLOG_KAFKA_BROKERS', e);
      throw e;
    });
    const index = await ensureThreadIndex(ctx.db, generation, await createProjectionStore({ db: ctx.db, generation }).resolveLayout());
    if (index === 'failed') io.err('threadlog ui: could not create the recent-threads index on MongoDB (a read-only user?); the thread list scans the heads instead\n');
    const viewer = await startViewer({
      kafka: ctx.kafka,
      db: ctx.db,
      redis: ctx.redis,
      store,
      topicPrefix: env.topicPrefix,
      partitions: env.partitions,
      generation,
      redisPrefix,
      // a rebuild's --switch moves the viewer too, without a restart
      follow: { meta: ctx.meta, basePrefix: env.redisPrefix },
      host: opts.host,
      port: opts.port,
      assetsDir: opts.assetsDir ?? defaultAssetsDir,
      logger,
      ...(opts.token === undefined ? {} : { token: opts.token }),
    });
    io.out(`threadlog ui: generation ${generation} of ${env.mongoDb}, read-only\n  open ${viewer.openUrl}\n  (Ctrl-C stops it)\n`);
    await stop;
    await viewer.close();
    return 0;
  } catch (e) {
    if (!isThreadlogError(e)) throw e;
    io.err(`threadlog ui: ${e.message}\n`);
    return e.code === 'not-found' ? 3 : 2;
  } finally {
    await ctx.close();
  }
}

const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`expected a port from 0 to 65535, got '${v}'`);
  return n;
};

export function registerUi(program: Command): void {
  program
    .command('ui')
    .description('a read-only timeline viewer in the browser: threads, branches, state diffs, pending writes, audit')
    .option('--host <address>', 'address to bind; anything but loopback needs --token', '127.0.0.1')
    .option('--port <n>', 'port (0 picks a free one)', port, 4780)
    .option('--token <secret>', 'required on every request (header, ?token= or the cookie the page gets); at least 16 characters, e.g. $(openssl rand -hex 16)')
    .action(async (opts: UiOptions) => {
      const stop = new Promise((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      process.exitCode = await uiCommand(parseEnv(), opts, processOutput(false), stop);
    });
}
