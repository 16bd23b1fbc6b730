/**
 * Per-partition lag of a consumer group: the log end offset, the group's committed offset
 * (the next offset it will read) and the difference. For `threadlog lag` and health.
 */
import type { Admin } from 'kafkajs';
import { ThreadlogError } from '../errors.ts';
import { mapKafkaError } from './client.ts';

export interface GroupPartitionLag {
  partition: number;
  /** next offset to be written */
  end: string;
  /** next offset the group reads; undefined: nothing committed yet */
  committed: string | undefined;
  /** messages not yet consumed by the group */
  lag: number;
}

export async function groupLag(admin: Admin, topic: string, groupId: string): Promise<GroupPartitionLag[]> {
  try {
    const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
    const byPartition = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, p.offset]));
    return ends
      .sort((a, b) => a.partition - b.partition)
      .map((p) => {
        const c = byPartition.get(p.partition);
        const has = c !== undefined && c !== '-1';
        const from = has ? BigInt(c) : BigInt(p.low);
        const lag = BigInt(p.high) - from;
        return { partition: p.partition, end: p.high, committed: has ? c : undefined, lag: Number(lag > 0n ? lag : 0n) };
      });
  } catch (e) {
    if ((e as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') {
      throw new ThreadlogError('not-found', `topic ${topic} does not exist; check THREADLOG_TOPIC_PREFIX`);
    }
    throw mapKafkaError(e, `reading the offsets of ${topic}`, 'kafka-unavailable');
  }
}
