/**
 * kill -9 of the broker during a burst: every append settles (none hangs), and every append
 * that was acknowledged is in the log at its receipt after the broker comes back. Runs on a
 * private broker, never the shared one other test files use.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateKafka, type PrivateKafka } from '../support/private-kafka.ts';
import { waitFor } from '../support/isolation.ts';
import { createKafkaClient } from '../../src/kafka/client.ts';
import { ensureTopics } from '../../src/kafka/topics.ts';
import { createAppender } from '../../src/kafka/appender.ts';
import { isThreadlogError } from '../../src/errors.ts';
import type { Receipt } from '../../src/events/types.ts';
import { byPosition, readTopic } from './helpers.ts';

let broker: PrivateKafka;
beforeAll(async () => {
  broker = await startPrivateKafka();
}, 180_000);
afterAll(async () => {
  await broker?.stop();
});

describe('broker crash', () => {
  it('settles every append and loses no acknowledged one across a kill -9 and restart', async () => {
    const kafka = createKafkaClient({
      brokers: broker.brokers,
      clientId: 'crash-test',
      // give up within seconds while the broker is dead, so nothing hangs
      retry: { retries: 4, initialRetryTime: 100, maxRetryTime: 1_000 },
      requestTimeoutMs: 5_000,
      connectionTimeoutMs: 1_000,
    });
    const admin = kafka.admin();
    await admin.connect();
    const { checkpoints } = await ensureTopics({ admin, prefix: 'crash', partitions: 6 });
    await admin.disconnect();
    const topic = checkpoints.topic;
    const appender = createAppender({ kafka, topic, partitions: 6, maxBatchBytes: 64 * 1024 });

    type Outcome = { value: string; receipt?: Receipt; error?: unknown };
    const outcomes: Outcome[] = [];
    const settled: Array<Promise<void>> = [];
    let stop = false;
    let acked = 0;
    // A steady burst: 64 appends in flight at any time until told to stop.
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const value = `w${w}-${i}`;
        const o: Outcome = { value };
        outcomes.push(o);
        try {
          o.receipt = await appender.append([{ key: `thread-${w % 40}`, value: Buffer.from(value), headers: {} }]);
          acked++;
        } catch (e) {
          o.error = e;
        }
      }
    };
    for (let w = 0; w < 64; w++) settled.push(worker(w));

    await waitFor(() => acked >= 2_000, { what: 'a burst under way' });
    await broker.kill();
    const ackedAtKill = acked;
    // Every append started before or after the kill must settle within bounded time.
    await waitFor(() => outcomes.filter((o) => o.error).length >= 64, { timeoutMs: 60_000, what: 'appends failing while the broker is down' });
    stop = true;
    await Promise.race([
      Promise.all(settled),
      new Promise((_, rej) => setTimeout(() => rej(new Error('appends left hanging after the broker died')), 60_000)),
    ]);
    const failed = outcomes.filter((o) => o.error);
    for (const f of failed) expect(isThreadlogError(f.error)).toBe(true);
    expect(failed.some((f) => isThreadlogError(f.error, 'kafka-unavailable') && (f.error as { retriable: boolean }).retriable)).toBe(true);
    expect(outcomes.every((o) => o.receipt !== undefined || o.error !== undefined)).toBe(true);

    await broker.restart();
    // the same appender works again once the broker is back
    const after = await waitFor(
      async () => appender.append([{ key: 'thread-after', value: Buffer.from('after-restart'), headers: {} }]).catch(() => undefined),
      { timeoutMs: 60_000, what: 'an append to succeed after restart' },
    );
    await appender.close();

    const ok = outcomes.filter((o) => o.receipt);
    expect(ok.length).toBeGreaterThanOrEqual(ackedAtKill);
    const read = byPosition(await readTopic(broker.brokers, topic, ok.length + 1, { timeoutMs: 90_000 }));
    const missing = ok.filter((o) => read.get(`${o.receipt!.partition}@${o.receipt!.offset}`)?.value.toString() !== o.value);
    expect(missing).toEqual([]);
    expect(read.get(`${after.partition}@${after.offset}`)?.value.toString()).toBe('after-restart');
  }, 300_000);
});
