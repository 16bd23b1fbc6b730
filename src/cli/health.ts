/** `threadlog health`: one round trip to each service, a table, non-zero exit if any is down. */
import { probeServices } from '../health.ts';
import { redisWhere, type ThreadlogEnv } from './env.ts';

export async function healthCommand(env: ThreadlogEnv, opts: { json?: boolean }): Promise<number> {
  const result = await probeServices(env);
  if (opts.json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } else {
    const where = { kafka: env.kafkaBrokers.join(','), mongodb: env.mongoUrl, redis: redisWhere(env) };
    for (const [name, r] of Object.entries(result)) {
      const state = r.ok ? `ok    ${r.latencyMs.toFixed(1).padStart(7)} ms` : `DOWN  ${r.error ?? ''}`;
      process.stdout.write(`${name.padEnd(8)} ${where[name as keyof typeof where].padEnd(32)} ${state}\n`);
    }
  }
  const down = Object.entries(result).filter(([, r]) => !r.ok).map(([n]) => n);
  if (down.length > 0) {
    process.stderr.write(`unreachable: ${down.join(', ')} — start the local stack with 'npm run infra:up' or point THREADLOG_* at your servers\n`);
    return 1;
  }
  return 0;
}
