/**
 * MongoDB driver errors mapped to ThreadlogError at the adapter boundary. Unreachable
 * servers and dropped connections are retriable; an answer that refuses the operation is not.
 */
import { MongoClientClosedError, MongoError, MongoNetworkError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb';
import { configurationError } from '../connection-errors.ts';
import { ThreadlogError } from '../errors.ts';

/** where a wrong password or an untrusted certificate is fixed, for messages */
const MONGO_SETTINGS = {
  credentials: 'user:password in THREADLOG_MONGO_URL, or mongo.url',
  tls: 'tls=true&tlsCAFile=<ca.pem> in THREADLOG_MONGO_URL, or mongo.options.tlsCAFile',
};

export function mapMongoError(e: unknown, what: string): unknown {
  if (e instanceof ThreadlogError || !(e instanceof MongoError)) return e;
  // the caller closed the client it passed in: retrying will not help
  if (e instanceof MongoClientClosedError || e instanceof MongoTopologyClosedError) {
    return new ThreadlogError('closed', `MongoDB client closed during ${what}`, { cause: e });
  }
  // a wrong password or an untrusted certificate: configuration, not an outage to wait out
  const config = configurationError('MongoDB', 'the configured URL', e, MONGO_SETTINGS);
  if (config !== undefined) return config;
  const unavailable =
    e instanceof MongoNetworkError ||
    e instanceof MongoServerSelectionError ||
    e.hasErrorLabel('RetryableWriteError') ||
    e.hasErrorLabel('TransientTransactionError');
  return unavailable
    ? new ThreadlogError('mongo-unavailable', `MongoDB unavailable during ${what}: ${e.message}`, { retriable: true, cause: e })
    : new ThreadlogError('mongo-rejected', `MongoDB refused ${what}: ${e.message}`, { cause: e, details: { code: e.code } });
}

/** Run one driver call, mapping its errors. */
export async function mongoCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw mapMongoError(e, what);
  }
}
