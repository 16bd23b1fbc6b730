/** Reading a topic back, to check what the appender claims against what the broker holds. */
import { logLevel, Kafka, type Consumer } from 'kafkajs';
import { waitFor } from '../support/isolation.ts';

export interface ReadRecord {
  partition: number;
  offset: string;
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/** Consumes `topic` from the beginning with a fresh group until `count` records arrived. */
export async function readTopic(
  brokers: string[],
  topic: string,
  count: number,
  { groupId = `${topic}-reader-${Date.now()}`, timeoutMs = 60_000 }: { groupId?: string; timeoutMs?: number } = {},
): Promise<ReadRecord[]> {
  const kafka = new Kafka({ clientId: 'threadlog-test-reader', brokers, logLevel: logLevel.NOTHING });
  const consumer: Consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  const out: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = String(v);
          out.push({ partition: batch.partition, offset: m.offset, key: String(m.key), value: m.value ?? Buffer.alloc(0), headers });
        }
      },
    });
    await waitFor(() => out.length >= count, { timeoutMs, what: `${count} records from ${topic}` });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

export function byPosition(records: ReadRecord[]): Map<string, ReadRecord> {
  return new Map(records.map((r) => [`${r.partition}@${r.offset}`, r]));
}
