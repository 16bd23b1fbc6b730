/**
 * Topic provisioning. The checkpoints topic is the source of truth, so its shape is checked
 * at every start: a different partition count would silently move threads to other
 * partitions (breaking per-thread order) and a finite retention would eventually make the
 * projection impossible to rebuild. Both are refused with a message that says what to do.
 */
// kafkajs is CommonJS and Node's ESM loader only sees some of its named exports.
import kafkajs, { type Admin } from 'kafkajs';
import { ThreadlogError } from '../errors.ts';
import { mapKafkaError } from './client.ts';

const { ConfigResourceTypes } = kafkajs;

export interface EnsureTopicsOptions {
  admin: Admin;
  /** topics are `<prefix>.checkpoints` and `<prefix>.dead-letter` */
  prefix: string;
  partitions?: number;
  /** the topic's max.message.bytes; the codec chunks events above it */
  maxMessageBytes?: number;
  /** -1 uses the broker's default.replication.factor */
  replicationFactor?: number;
  /**
   * min.insync.replicas of topics this call creates; undefined: the broker's default. With
   * acks=all a write needs this many replicas in sync, so 2 of 3 survives one broker down.
   */
  minInsyncReplicas?: number;
  timeoutMs?: number;
}

export const defaultEnsureTopicsOptions = {
  partitions: 12,
  // Kafka's own default (1 MiB + record batch overhead): works on any broker and any client.
  maxMessageBytes: 1_048_588,
  replicationFactor: -1,
  minInsyncReplicas: undefined,
  timeoutMs: 30_000,
} as const;

export interface TopicInfo {
  topic: string;
  partitions: number;
  retentionMs: string;
  maxMessageBytes: number;
  /** replicas of its partitions (the smallest, should they differ) */
  replicationFactor: number;
  /** brokers in the cluster when it was described */
  brokers: number;
  /** true when this call created it */
  created: boolean;
}

export interface EnsuredTopics {
  checkpoints: TopicInfo;
  deadLetter: TopicInfo;
}

export function checkpointsTopic(prefix: string): string {
  return `${prefix}.checkpoints`;
}

export function deadLetterTopic(prefix: string): string {
  return `${prefix}.dead-letter`;
}

export async function ensureTopics(options: EnsureTopicsOptions): Promise<EnsuredTopics> {
  const o = { ...defaultEnsureTopicsOptions, ...options };
  if (!Number.isInteger(o.partitions) || o.partitions < 1) {
    throw new ThreadlogError('invalid-options', `ensureTopics: partitions must be a positive integer, got ${o.partitions}`);
  }
  if (!/^[a-zA-Z0-9._-]+$/.test(o.prefix) || o.prefix.length > 200) {
    throw new ThreadlogError('invalid-options', `ensureTopics: prefix "${o.prefix}" is not a valid Kafka topic name part`);
  }
  const checkpoints = await ensureOne(o, checkpointsTopic(o.prefix), o.partitions, true);
  // Poison events are kept forever too: they are evidence, and a fixed codec may replay them.
  // Order does not matter there, so its partition count is not checked.
  const deadLetter = await ensureOne(o, deadLetterTopic(o.prefix), o.partitions, false);
  return { checkpoints, deadLetter };
}

type Resolved = Required<Omit<EnsureTopicsOptions, 'minInsyncReplicas'>> & Pick<EnsureTopicsOptions, 'minInsyncReplicas'>;

/**
 * Start-up warnings about a topic's durability: on a multi-broker cluster, a topic with one
 * replica loses every acknowledged event of a partition whose broker loses its disk, and
 * stops taking writes while that broker is down. Empty when nothing is wrong.
 */
export function replicationWarnings(info: Pick<TopicInfo, 'topic' | 'replicationFactor' | 'brokers'>): string[] {
  if (info.brokers > 1 && info.replicationFactor < 2) {
    return [
      `topic ${info.topic} has replication factor ${info.replicationFactor} on a cluster of ${info.brokers} brokers: ` +
        `each partition lives on one broker only, so while that broker is down its threads cannot be saved, and if its ` +
        `disk is lost their acknowledged events are gone for good (the log is the source of truth). Recreate the topic ` +
        `with replication factor 3 and min.insync.replicas=2 (a new topic prefix, then threadlog rebuild)`,
    ];
  }
  return [];
}

async function ensureOne(o: Resolved, topic: string, partitions: number, strict: boolean): Promise<TopicInfo> {
  const configEntries = [
    { name: 'retention.ms', value: '-1' },
    { name: 'cleanup.policy', value: 'delete' },
    { name: 'max.message.bytes', value: String(o.maxMessageBytes) },
    ...(o.minInsyncReplicas === undefined ? [] : [{ name: 'min.insync.replicas', value: String(o.minInsyncReplicas) }]),
  ];
  let created = false;
  // kafkajs' waitForLeaders polls metadata and gives up with UNKNOWN_TOPIC_OR_PARTITION when
  // a busy broker publishes the new topic late; that error is retriable, so retry until the
  // deadline (a retry of a create that did happen returns false: TOPIC_ALREADY_EXISTS).
  const deadline = Date.now() + o.timeoutMs;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      created =
        (await o.admin.createTopics({
          topics: [{ topic, numPartitions: partitions, replicationFactor: o.replicationFactor, configEntries }],
          waitForLeaders: true,
          timeout: o.timeoutMs,
        })) || created;
      break;
    } catch (e) {
      const mapped = mapKafkaError(e, `creating topic ${topic}`, 'topic-mismatch');
      if (!mapped.retriable || Date.now() + delay > deadline) throw mapped;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  const actual = await describe(o.admin, topic, o.timeoutMs);
  const info: TopicInfo = { topic, ...actual, created };
  if (created) return info;

  const problems: string[] = [];
  if (strict && actual.partitions !== partitions) {
    problems.push(
      `it has ${actual.partitions} partitions but ${partitions} are configured. Threads are placed by ` +
        `hash(thread_id) mod partitions, so changing the count would move threads and break their order; ` +
        `threadlog never repartitions. Either set partitions to ${actual.partitions}, or use a new topic ` +
        `prefix and rebuild into it`,
    );
  }
  if (actual.retentionMs !== '-1') {
    problems.push(
      `its retention.ms is ${actual.retentionMs}, but the log must keep every event forever (retention.ms=-1) ` +
        `so projections can be rebuilt. Fix it with: kafka-configs.sh --alter --entity-type topics ` +
        `--entity-name ${topic} --add-config retention.ms=-1 (events already deleted are lost), or use a new prefix`,
    );
  }
  if (strict && actual.maxMessageBytes < o.maxMessageBytes) {
    problems.push(
      `its max.message.bytes is ${actual.maxMessageBytes}, below the configured ${o.maxMessageBytes}, so ` +
        `records sized for the configuration would be refused. Set maxMessageBytes to ${actual.maxMessageBytes} ` +
        `or raise the topic's max.message.bytes`,
    );
  }
  if (problems.length > 0) {
    throw new ThreadlogError('topic-mismatch', `topic ${topic} exists but does not match the configuration: ${problems.join('; ')}.`, {
      details: { topic, expected: { partitions, retentionMs: '-1', maxMessageBytes: o.maxMessageBytes }, actual },
    });
  }
  return info;
}

async function describe(
  admin: Admin,
  topic: string,
  timeoutMs: number,
): Promise<{ partitions: number; retentionMs: string; maxMessageBytes: number; replicationFactor: number; brokers: number }> {
  // A topic created a moment ago by another process may not be in every broker's metadata
  // yet; poll instead of failing the start-up.
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const parts = meta.topics[0]?.partitions ?? [];
      const partitions = parts.length;
      const replicationFactor = Math.min(...parts.map((p) => p.replicas.length));
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms', 'max.message.bytes'] }],
      });
      const entries = configs.resources[0]?.configEntries ?? [];
      const value = (name: string): string | undefined => entries.find((c) => c.configName === name)?.configValue;
      const retentionMs = value('retention.ms');
      const maxMessageBytes = Number(value('max.message.bytes'));
      if (partitions > 0 && retentionMs !== undefined && Number.isFinite(maxMessageBytes)) {
        const { brokers } = await admin.describeCluster();
        return { partitions, retentionMs, maxMessageBytes, replicationFactor, brokers: brokers.length };
      }
      last = new Error(`incomplete metadata for ${topic}`);
    } catch (e) {
      last = e;
    }
    if (Date.now() + delay > deadline) throw mapKafkaError(last, `describing topic ${topic}`, 'topic-mismatch');
    await new Promise((r) => setTimeout(r, delay));
  }
}
