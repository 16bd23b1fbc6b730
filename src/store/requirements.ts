/**
 * What a read must reflect, as log offsets of the thread's partition: `wait` (the projector
 * watermark to wait for), `head` (the lowest position a cached head may have) and, for
 * cross-thread lists, one offset per partition. Consistency levels map onto these:
 * eventual → nothing but `after`; session → this instance's own writes; strong → the
 * partition's end offset, fetched from Kafka at the time of the read.
 */
import type { Admin } from 'kafkajs';
import { mapKafkaError, type Kafka } from '../kafka/client.ts';
import type { Receipt } from '../events/types.ts';
import type { SessionTracker } from './session.ts';
import { NONE, maxOffset } from './session.ts';
import type { Consistency, ReadOptions } from './types.ts';

export interface Requirement {
  partition: number;
  wait: bigint;
  head: bigint;
}

export interface Requirements {
  forThread(threadId: string, ns: string, partition: number, options: ReadOptions | undefined): Promise<Requirement>;
  forPartitions(options: ReadOptions | undefined): Promise<Map<number, bigint>>;
  /** partition -> last offset in the log (end offset - 1); NONE for an empty partition */
  lastOffsets(): Promise<Map<number, bigint>>;
  close(): Promise<void>;
}

export interface RequirementsOptions {
  kafka: Kafka;
  topic: string;
  session: SessionTracker;
  defaultConsistency: Consistency;
}

export function createRequirements(o: RequirementsOptions): Requirements {
  let admin: Promise<Admin> | undefined;

  function connectAdmin(): Promise<Admin> {
    admin ??= (async () => {
      const a = o.kafka.admin();
      await a.connect();
      return a;
    })();
    admin.catch(() => (admin = undefined));
    return admin;
  }

  async function lastOffsets(): Promise<Map<number, bigint>> {
    try {
      const a = await connectAdmin();
      const offsets = await a.fetchTopicOffsets(o.topic);
      return new Map(offsets.map((p) => [p.partition, BigInt(p.high) - 1n]));
    } catch (e) {
      throw mapKafkaError(e, 'fetching end offsets for a strong read', 'kafka-unavailable');
    }
  }

  const receipts = (options: ReadOptions | undefined): Receipt[] => {
    const a = options?.after;
    const list = a === undefined ? [] : Array.isArray(a) ? a : [a];
    // a receipt of another topic says nothing about this one
    return list.filter((r) => r.topic === undefined || r.topic === o.topic);
  };

  return {
    async forThread(threadId, ns, partition, options) {
      const c = options?.consistency ?? o.defaultConsistency;
      let wait = NONE;
      for (const r of receipts(options)) if (r.partition === partition) wait = maxOffset(wait, BigInt(r.offset));
      let head = wait;
      if (c === 'session') {
        wait = maxOffset(wait, o.session.threadOffset(threadId, partition));
        head = maxOffset(head, o.session.headOffset(threadId, ns, partition));
      } else if (c === 'strong') {
        const last = (await lastOffsets()).get(partition) ?? NONE;
        wait = maxOffset(wait, last);
        head = maxOffset(head, last);
      }
      return { partition, wait, head };
    },

    async forPartitions(options) {
      const c = options?.consistency ?? o.defaultConsistency;
      const required = c === 'strong' ? await lastOffsets() : c === 'session' ? o.session.partitions() : new Map<number, bigint>();
      for (const r of receipts(options)) required.set(r.partition, maxOffset(required.get(r.partition) ?? NONE, BigInt(r.offset)));
      for (const [p, off] of required) if (off < 0n) required.delete(p);
      return required;
    },

    lastOffsets,

    async close() {
      const a = admin;
      admin = undefined;
      if (a) await (await a.catch(() => undefined))?.disconnect();
    },
  };
}
