/**
 * Topic provisioning: idempotent, safe under a creation race, and a topic whose shape would
 * break per-thread order or rebuilds is refused with a message that says how to fix it.
 */
import { describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { createTopicSettled, useIsolatedStack } from '../support/isolation.ts';
import { ensureTopics } from '../../src/kafka/topics.ts';
import { isThreadlogError } from '../../src/errors.ts';

const { ConfigResourceTypes } = kafkajs;

const stack = useIsolatedStack();

describe('ensureTopics', () => {
  it('creates both topics with infinite retention, then finds them again unchanged', async () => {
    const admin = await stack.admin();
    const prefix = stack.unique('tp');
    const first = await ensureTopics({ admin, prefix, partitions: 6, maxMessageBytes: 2_000_000 });
    expect(first.checkpoints).toMatchObject({ topic: `${prefix}.checkpoints`, partitions: 6, retentionMs: '-1', maxMessageBytes: 2_000_000, created: true });
    expect(first.deadLetter).toMatchObject({ topic: `${prefix}.dead-letter`, retentionMs: '-1', created: true });
    const cfg = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: `${prefix}.checkpoints`, configNames: ['cleanup.policy'] }],
    });
    expect(cfg.resources[0]?.configEntries[0]?.configValue).toBe('delete');

    const again = await ensureTopics({ admin, prefix, partitions: 6, maxMessageBytes: 2_000_000 });
    expect(again.checkpoints).toMatchObject({ partitions: 6, created: false });
    expect(again.deadLetter.created).toBe(false);
  });

  it('two processes racing to create the topics both succeed', async () => {
    const prefix = stack.unique('race');
    const admins = [stack.kafka.admin(), stack.kafka.admin()];
    await Promise.all(admins.map((a) => a.connect()));
    try {
      const results = await Promise.all(admins.map((admin) => ensureTopics({ admin, prefix, partitions: 4 })));
      expect(results.map((r) => r.checkpoints.partitions)).toEqual([4, 4]);
      expect(results.filter((r) => r.checkpoints.created)).toHaveLength(1);
    } finally {
      await Promise.all(admins.map((a) => a.disconnect()));
    }
  });

  it('refuses a different partition count, saying how to fix it, and never repartitions', async () => {
    const admin = await stack.admin();
    const prefix = stack.unique('mm');
    await ensureTopics({ admin, prefix, partitions: 3 });
    const err = await ensureTopics({ admin, prefix, partitions: 12 }).catch((e: unknown) => e);
    expect(isThreadlogError(err, 'topic-mismatch')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain('3 partitions but 12');
    expect(msg).toContain('set partitions to 3');
    expect(msg).toContain('new topic prefix');
    const meta = await admin.fetchTopicMetadata({ topics: [`${prefix}.checkpoints`] });
    expect(meta.topics[0]?.partitions).toHaveLength(3);
  });

  it('refuses a topic with finite retention', async () => {
    const admin = await stack.admin();
    const prefix = stack.unique('ret');
    await createTopicSettled(admin, { topic: `${prefix}.checkpoints`, numPartitions: 12, configEntries: [{ name: 'retention.ms', value: '604800000' }] });
    const err = await ensureTopics({ admin, prefix }).catch((e: unknown) => e);
    expect(isThreadlogError(err, 'topic-mismatch')).toBe(true);
    expect((err as Error).message).toContain('retention.ms is 604800000');
  });

  it('rejects a prefix that is not a topic name', async () => {
    const admin = await stack.admin();
    await expect(ensureTopics({ admin, prefix: 'bad prefix/x' })).rejects.toMatchObject({ code: 'invalid-options' });
  });
});
