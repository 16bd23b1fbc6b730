/**
 * The cluster tests start the cluster mode themselves (`infra/stack.sh up --cluster`: the
 * single stack's FerretDB, three Kafka brokers, a Redis Cluster of six nodes) and stop it
 * afterwards when they started it; a cluster that was already running is left running.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { clusterEndpoints, clusterScript, pidOf, kafkaNodeName, root, waitRedisClusterOk } from './cluster.ts';

const run = promisify(execFile);

export default async function setup(): Promise<() => Promise<void>> {
  const ep = clusterEndpoints();
  const wasRunning = [1, 2, 3].every((n) => pidOf(ep, kafkaNodeName(n)) !== undefined);
  const started = Date.now();
  try {
    await run('bash', [path.join(root, 'infra/stack.sh'), 'up', '--cluster'], { cwd: root, timeout: 15 * 60_000 });
  } catch (e) {
    throw new Error(`the cluster mode could not be started (infra/stack.sh up --cluster):\n${(e as { stderr?: string }).stderr ?? String(e)}`);
  }
  await waitRedisClusterOk(ep);
  process.stderr.write(`[cluster tests] cluster mode ready after ${((Date.now() - started) / 1000).toFixed(1)} s${wasRunning ? ' (already running)' : ''}\n`);
  return async () => {
    if (!wasRunning) await clusterScript('down');
  };
}
