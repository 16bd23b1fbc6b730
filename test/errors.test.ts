import { describe, expect, it } from 'vitest';
import { ThreadlogError, isThreadlogError } from '../src/errors.ts';

describe('ThreadlogError', () => {
  it('carries code, retriable flag and cause', () => {
    const cause = new Error('socket hang up');
    const e = new ThreadlogError('kafka-unavailable', 'broker down', { retriable: true, cause });
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('kafka-unavailable');
    expect(e.retriable).toBe(true);
    expect(e.cause).toBe(cause);
    expect(isThreadlogError(e)).toBe(true);
    expect(isThreadlogError(e, 'kafka-unavailable')).toBe(true);
    expect(isThreadlogError(e, 'not-found')).toBe(false);
    expect(isThreadlogError(cause)).toBe(false);
  });

  it('defaults to not retriable', () => {
    expect(new ThreadlogError('invalid-thread-id', 'empty').retriable).toBe(false);
  });
});
