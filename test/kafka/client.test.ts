import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { createKafkaClient, kafkaLogCreator, mapKafkaError } from '../../src/kafka/client.ts';
import { ThreadlogError } from '../../src/errors.ts';
import type { Logger } from '../../src/logger.ts';

// kafkajs' own error classes (not exported from its ESM surface), so the mapping is tested
// against what kafkajs really throws.
const require = createRequire(import.meta.url);
const errors = require('kafkajs/src/errors.js') as Record<string, new (...args: unknown[]) => Error>;
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as { createErrorFromCode(code: number): Error };

describe('mapKafkaError', () => {
  it('maps connection trouble, timeouts and leader moves to retriable kafka-unavailable', () => {
    const cases = [
      new errors.KafkaJSConnectionError!('Connection error: connect ECONNREFUSED 127.0.0.1:1', { broker: '127.0.0.1:1' }),
      new errors.KafkaJSRequestTimeoutError!('Request Produce(key: 0, version: 7) timed out'),
      new errors.KafkaJSProtocolError!(createErrorFromCode(6)), // NOT_LEADER_OR_FOLLOWER
      new errors.KafkaJSNumberOfRetriesExceeded!(new errors.KafkaJSConnectionError!('Connection refused'), { retryCount: 5, retryTime: 100 }),
      // kafkajs' plain Error for a request on a broker whose connection just dropped
      new Error('Broker not connected'),
    ];
    for (const e of cases) {
      const m = mapKafkaError(e, 'appending');
      expect(m).toBeInstanceOf(ThreadlogError);
      expect(m.code).toBe('kafka-unavailable');
      expect(m.retriable).toBe(true);
      expect(m.cause).toBe(e);
    }
  });

  it('maps a too-large record to payload-too-large and anything else to the fallback', () => {
    expect(mapKafkaError(new errors.KafkaJSProtocolError!(createErrorFromCode(10)), 'x').code).toBe('payload-too-large');
    const other = mapKafkaError(new errors.KafkaJSProtocolError!(createErrorFromCode(87)), 'x'); // INVALID_RECORD
    expect(other).toMatchObject({ code: 'append-failed', retriable: false });
    expect(mapKafkaError(new Error('boom'), 'x', 'topic-mismatch').code).toBe('topic-mismatch');
    const already = new ThreadlogError('closed', 'closed');
    expect(mapKafkaError(already, 'x')).toBe(already);
  });
});

describe('createKafkaClient', () => {
  it('refuses an empty broker list', () => {
    expect(() => createKafkaClient({ brokers: [] })).toThrow(expect.objectContaining({ code: 'invalid-options' }) as Error);
  });

  it('routes kafkajs log entries to our logger by level, one child per namespace', () => {
    const lines: Array<[string, object, string | undefined]> = [];
    const make = (bindings: Record<string, unknown>): Logger => ({
      debug: (o, m) => lines.push(['debug', { ...bindings, ...o }, m]),
      info: (o, m) => lines.push(['info', { ...bindings, ...o }, m]),
      warn: (o, m) => lines.push(['warn', { ...bindings, ...o }, m]),
      error: (o, m) => lines.push(['error', { ...bindings, ...o }, m]),
      child: (b) => make({ ...bindings, ...b }),
    });
    const log = kafkaLogCreator(make({}))();
    log({ namespace: 'Producer', level: 2, label: 'WARN', log: { timestamp: 't', message: 'slow', broker: 'b1' } });
    log({ namespace: 'Cluster', level: 1, label: 'ERROR', log: { timestamp: 't', message: 'down' } });
    expect(lines).toEqual([
      ['warn', { component: 'kafkajs', namespace: 'Producer', broker: 'b1' }, 'slow'],
      ['error', { component: 'kafkajs', namespace: 'Cluster' }, 'down'],
    ]);
  });
});
