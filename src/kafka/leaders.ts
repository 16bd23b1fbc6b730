/**
 * Which broker leads each partition of a topic, for the appender: it sends one produce
 * request per leader instead of one for all partitions. kafkajs' sendBatch keeps one
 * response per *broker*: when one broker fails and leaderships move before its retry, it
 * resends partitions another broker had already written (with new sequence numbers, so the
 * broker cannot tell: a duplicate in the log), or never resends some at all (the response
 * lacks them). Both were seen on the 3-broker cluster (test/cluster/kafka-failures). A
 * request that goes to one broker fails or succeeds as a whole, and kafkajs rolls back the
 * sequence numbers of all its partitions together.
 *
 * Best effort: the map is refreshed in the background (and after a failed batch); while it
 * is unknown or stale, a request may still span brokers, as before.
 */
import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from '../logger.ts';

export interface LeaderMap {
  /** leader node id of a partition, undefined when not known */
  leaderOf(partition: number): number | undefined;
  /** the most brokers the cluster was seen to have (0 while unknown) */
  brokers(): number;
  /** loads the map once (bounded wait); later calls return at once and refresh when stale */
  ready(): Promise<void>;
  /** re-read now (after a failed batch: leaderships may have moved) */
  invalidate(): void;
  close(): Promise<void>;
}

/** a leadership that moved without a failure (preferred leader election) is seen within this */
const STALE_MS = 10_000;
/** the first load may not hold the first batch longer than this */
const FIRST_LOAD_MS = 2_000;

export function createLeaderMap(kafka: Kafka, topic: string, logger: Logger): LeaderMap {
  let leaders = new Map<number, number>();
  // the most seen: a cluster with brokers down still has them
  let brokers = 0;
  let loadedAt = 0;
  let loading: Promise<void> | undefined;
  let admin: Promise<Admin> | undefined;
  let closed = false;

  function load(): Promise<void> {
    loading ??= (async () => {
      try {
        admin ??= (async () => {
          const a = kafka.admin({ retry: { retries: 1 } });
          await a.connect();
          return a;
        })();
        const a = await admin;
        const meta = await a.fetchTopicMetadata({ topics: [topic] });
        const next = new Map((meta.topics[0]?.partitions ?? []).filter((p) => p.leader >= 0).map((p) => [p.partitionId, p.leader]));
        const cluster = await a.describeCluster();
        if (!closed) {
          brokers = Math.max(brokers, cluster.brokers.length);
          leaders = next;
          loadedAt = Date.now();
        }
      } catch (err) {
        // keep what we knew: requests then may span brokers, as kafkajs does on its own
        admin?.then((a) => a.disconnect()).catch(() => undefined);
        admin = undefined;
        loadedAt = Date.now();
        logger.debug({ err }, 'could not read the partition leaders');
      }
    })().finally(() => (loading = undefined));
    return loading;
  }

  return {
    leaderOf: (p) => leaders.get(p),
    brokers: () => brokers,
    async ready() {
      if (closed) return;
      if (loadedAt === 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([load(), new Promise<void>((r) => (timer = setTimeout(r, FIRST_LOAD_MS)))]);
        clearTimeout(timer);
      } else if (Date.now() - loadedAt > STALE_MS) void load();
    },
    invalidate() {
      if (!closed) void load();
    },
    async close() {
      closed = true;
      await loading;
      const a = await admin?.catch(() => undefined);
      await a?.disconnect().catch(() => undefined);
    },
  };
}
