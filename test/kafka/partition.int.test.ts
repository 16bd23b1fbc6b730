/** partitionFor must put a thread where the broker (through kafkajs' default partitioner) does. */
import { describe, expect, it } from 'vitest';
import { Partitioners } from 'kafkajs';
import { createTopicSettled, useIsolatedStack } from '../support/isolation.ts';
import { partitionFor } from '../../src/kafka/partition.ts';
import { readTopic } from './helpers.ts';

const stack = useIsolatedStack();

describe('partitionFor', () => {
  it('agrees with where kafkajs placed keyed records on the broker', async () => {
    const admin = await stack.admin();
    const topic = stack.unique('part');
    await createTopicSettled(admin, { topic, numPartitions: 12 });
    const producer = stack.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const keys = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? `thread-${i}` : i % 3 === 1 ? `ünïcødé-${i}-🧵` : `${i}`.repeat(i % 9)));
    try {
      // no partition given: the producer's partitioner decides
      await producer.send({ topic, acks: -1, messages: keys.map((k, i) => ({ key: k, value: String(i) })) });
    } finally {
      await producer.disconnect();
    }
    const read = await readTopic(stack.endpoints.kafkaBrokers, topic, keys.length);
    for (const r of read) expect(partitionFor(r.key, 12)).toBe(r.partition);
    expect(new Set(read.map((r) => r.partition)).size).toBe(12);
  });
});
