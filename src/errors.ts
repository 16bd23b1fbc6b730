/**
 * One error type for the whole library. `code` is a closed union so callers can switch on
 * it; `retriable` says whether the same call may succeed later unchanged (a broker that is
 * down) or never will (a malformed thread id). Driver errors are mapped to this at the
 * adapter boundary and kept as `cause`.
 */
export const errorCodes = [
  // validation at the door: nothing was written
  'invalid-thread-id',
  'invalid-checkpoint-id',
  'invalid-checkpoint-ns',
  'invalid-checkpoint',
  'invalid-event',
  'invalid-filter',
  'invalid-options',
  'not-serializable',
  'payload-too-large',
  // the log
  'unknown-event-type',
  'unsupported-schema-version',
  'corrupt-event',
  'incomplete-chunks',
  // an append delta whose base chain cannot be walked back to a snapshot
  'broken-delta-chain',
  'topic-mismatch',
  'append-failed',
  'buffer-closed',
  // reads
  'not-found',
  'stale-read',
  // services
  'kafka-unavailable',
  'mongo-unavailable',
  // the server answered but refused the operation (a document it cannot store): not retriable
  'mongo-rejected',
  'redis-unavailable',
  'closed',
  'timeout',
  // encryption and erasure (docs/security.md)
  // eraseThread or key rotation without encryption configured: the message names the setting
  'encryption-disabled',
  // a save to an erased thread (its key is destroyed; a new thread id is needed)
  'thread-erased',
  // sealed data of a thread that has no key in the key store (lost, or another database)
  'missing-thread-key',
  // a thread key wrapped by a master key this process does not have, or that does not unwrap
  'wrong-master-key',
  // the operation needs another projection layout (erasure: layout 2)
  'unsupported-layout',
  // a service refused our credentials (wrong user or password, an ACL that forbids us): configuration, not an outage
  'auth-failed',
  // a service's TLS certificate is not trusted (unknown CA, wrong host name, expired)
  'tls-untrusted',
] as const;

export type ThreadlogErrorCode = (typeof errorCodes)[number];

export interface ThreadlogErrorOptions {
  retriable?: boolean;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class ThreadlogError extends Error {
  override readonly name = 'ThreadlogError';
  readonly code: ThreadlogErrorCode;
  readonly retriable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ThreadlogErrorCode, message: string, options: ThreadlogErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.details = options.details;
  }
}

export function isThreadlogError(e: unknown, code?: ThreadlogErrorCode): e is ThreadlogError {
  return e instanceof ThreadlogError && (code === undefined || e.code === code);
}
