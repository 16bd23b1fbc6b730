/**
 * MongoDB driver errors mapped to ThreadlogError at the adapter boundary. Unreachable
 * servers and dropped connections are retriable; an answer that refuses the operation is not.
 */
import { MongoClientClosedError, MongoError, MongoNetworkError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb';
import { ThreadlogError } from '../errors.ts';

export function mapMongoError(e: unknown, what: string): unknown {
  if (e instanceof ThreadlogError || !(e instanceof MongoError)) return e;
  // the caller closed the client it passed in: retrying will not help
  if (e instanceof MongoClientClosedError || e instanceof MongoTopologyClosedError) {
    return new ThreadlogError('closed', `MongoDB client closed during ${what}`, { cause: e });
  }
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
