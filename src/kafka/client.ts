/**
 * The one place that builds a kafkajs client and turns kafkajs errors into ThreadlogError.
 * kafkajs is unmaintained; everything kafkajs-specific stays in src/kafka so that a swap to
 * another client only rewrites this folder.
 */
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type RetryOptions, type SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import { configurationError } from '../connection-errors.ts';
import { ThreadlogError, isThreadlogError, type ThreadlogErrorCode } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';

export type { Kafka } from 'kafkajs';

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  ssl?: ConnectionOptions | boolean;
  /** passed through unchanged to kafkajs (plain, scram-sha-256/512, aws, oauthbearer) */
  sasl?: SASLOptions;
  logger: Logger;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  /**
   * kafkajs' own retry of one request. Bounded on purpose: kafkajs retries an idempotent
   * producer forever by default, which would leave saves hanging while a broker is down.
   */
  retry: RetryOptions;
}

export const defaultKafkaClientOptions: Omit<KafkaClientOptions, 'brokers'> = {
  clientId: 'threadlog',
  logger: silentLogger,
  connectionTimeoutMs: 3_000,
  requestTimeoutMs: 30_000,
  retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 3_000, multiplier: 2, factor: 0.2 },
};

export function createKafkaClient(options: Partial<KafkaClientOptions> & Pick<KafkaClientOptions, 'brokers'>): Kafka {
  const o: KafkaClientOptions = { ...defaultKafkaClientOptions, ...options };
  if (o.brokers.length === 0) {
    throw new ThreadlogError('invalid-options', 'kafka: at least one broker is required');
  }
  const config: KafkaConfig = {
    brokers: o.brokers,
    clientId: o.clientId,
    connectionTimeout: o.connectionTimeoutMs,
    requestTimeout: o.requestTimeoutMs,
    retry: o.retry,
    // The level filter is ours (the Logger decides); kafkajs only needs to emit everything
    // down to DEBUG when the logger is not the silent one, else it would format for nothing.
    logLevel: o.logger === silentLogger ? logLevel.NOTHING : logLevel.DEBUG,
    logCreator: kafkaLogCreator(o.logger),
  };
  if (o.ssl !== undefined) config.ssl = o.ssl;
  if (o.sasl !== undefined) config.sasl = o.sasl;
  return new Kafka(config);
}

/** Maps kafkajs' `logCreator` onto our Logger, one child per kafkajs namespace. */
export function kafkaLogCreator(logger: Logger): () => (entry: LogEntry) => void {
  const base = logger.child({ component: 'kafkajs' });
  const children = new Map<string, Logger>();
  return () => (entry) => {
    let l = children.get(entry.namespace);
    if (!l) {
      l = base.child({ namespace: entry.namespace });
      children.set(entry.namespace, l);
    }
    const { message, timestamp: _ts, logger: _lg, ...rest } = entry.log;
    switch (entry.level) {
      case logLevel.ERROR:
        l.error(rest, message);
        break;
      case logLevel.WARN:
        l.warn(rest, message);
        break;
      case logLevel.INFO:
        l.info(rest, message);
        break;
      default:
        l.debug(rest, message);
    }
  };
}

// Broker-side conditions that go away by themselves (a leader moving, a broker restarting).
const unavailableTypes = new Set([
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION',
  'NOT_LEADER_OR_FOLLOWER',
  'REQUEST_TIMED_OUT',
  'NOT_ENOUGH_REPLICAS',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  'BROKER_NOT_AVAILABLE',
  'NETWORK_EXCEPTION',
  'COORDINATOR_NOT_AVAILABLE',
  'NOT_CONTROLLER',
  'KAFKA_STORAGE_ERROR',
  'UNKNOWN_TOPIC_OR_PARTITION',
]);

const unavailableNames = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSBrokerNotFound',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
  'KafkaJSLockTimeout',
  'KafkaJSTimeout',
]);

const tooLargeTypes = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

interface KafkaLikeError {
  name?: string;
  type?: string;
  message?: string;
  retriable?: boolean;
  cause?: unknown;
  originalError?: unknown;
}

/**
 * The innermost kafkajs error: `KafkaJSNumberOfRetriesExceeded` and
 * `KafkaJSNonRetriableError` only wrap what actually happened.
 */
function innermost(e: unknown): KafkaLikeError {
  let cur = e as KafkaLikeError;
  for (let i = 0; i < 8; i++) {
    const next = (cur.cause ?? cur.originalError) as KafkaLikeError | undefined;
    if (
      next === undefined ||
      next === null ||
      typeof next !== 'object' ||
      next === cur ||
      !(cur.name === 'KafkaJSNumberOfRetriesExceeded' || cur.name === 'KafkaJSNonRetriableError' || cur.name === 'KafkaJSError')
    ) {
      break;
    }
    cur = next;
  }
  return cur;
}

/**
 * kafkajs error → ThreadlogError. `fallback` is the code for a non-retriable failure of the
 * operation at hand ('append-failed' for writes). Already-mapped errors pass through.
 */
/** where a wrong password or an untrusted certificate is fixed, for messages */
export const KAFKA_SETTINGS = {
  credentials: 'THREADLOG_KAFKA_SASL_USERNAME/_PASSWORD/_MECHANISM, or kafka.sasl',
  tls: 'THREADLOG_KAFKA_TLS_CA_FILE, or kafka.ssl.ca',
};

export function mapKafkaError(e: unknown, what: string, fallback: ThreadlogErrorCode = 'append-failed'): ThreadlogError {
  if (isThreadlogError(e)) return e;
  // SASL refused or a certificate not trusted: configuration, never retried as an outage
  const config = configurationError('Kafka', 'the configured brokers', e, KAFKA_SETTINGS);
  if (config !== undefined) return config;
  const inner = innermost(e);
  const name = inner.name ?? '';
  const type = inner.type ?? '';
  const message = `${what}: ${inner.message ?? String(e)}`;
  const details = { kafkaError: name, ...(type ? { kafkaType: type } : {}) };
  if (tooLargeTypes.has(type)) {
    return new ThreadlogError('payload-too-large', message, { cause: e, details });
  }
  // kafkajs throws a plain Error when a request meets a broker whose connection just dropped
  if (unavailableNames.has(name) || unavailableTypes.has(type) || inner.message === 'Broker not connected') {
    return new ThreadlogError('kafka-unavailable', message, { retriable: true, cause: e, details });
  }
  return new ThreadlogError(fallback, message, { retriable: false, cause: e, details });
}
