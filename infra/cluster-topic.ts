/**
 * `infra/cluster.sh up` creates the checkpoints topic of the cluster mode through the
 * library's own provisioning, so it has exactly what a store would create plus the cluster
 * settings: replication factor 3 and min.insync.replicas=2. An existing topic is checked,
 * not changed (a replication factor 1 topic is reported, with what to do).
 * Usage: THREADLOG_KAFKA_BROKERS=... node --import tsx infra/cluster-topic.ts <prefix> <partitions>
 */
import { parseEnv } from '../src/cli/env.ts';
import { createKafkaClient } from '../src/kafka/client.ts';
import { ensureTopics, replicationWarnings } from '../src/kafka/topics.ts';

const [prefix = 'threadlog', partitions = '12'] = process.argv.slice(2);
const env = parseEnv();
const kafka = createKafkaClient({ brokers: env.kafkaBrokers, clientId: 'threadlog-cluster-setup' });
const admin = kafka.admin();
await admin.connect();
try {
  // a cluster that just formed may not have registered all three brokers yet
  const deadline = Date.now() + 120_000;
  while ((await admin.describeCluster()).brokers.length < 3) {
    if (Date.now() > deadline) throw new Error('fewer than 3 brokers registered after 120 s: see the cluster-kafka-*.log files');
    await new Promise((r) => setTimeout(r, 500));
  }
  const { checkpoints } = await ensureTopics({ admin, prefix, partitions: Number(partitions), replicationFactor: 3, minInsyncReplicas: 2, timeoutMs: 120_000 });
  process.stdout.write(`${checkpoints.topic}: ${checkpoints.partitions} partitions, replication factor ${checkpoints.replicationFactor}, ${checkpoints.created ? 'created' : 'exists'}\n`);
  for (const w of replicationWarnings(checkpoints)) process.stderr.write(`WARNING: ${w}\n`);
} finally {
  await admin.disconnect();
}
