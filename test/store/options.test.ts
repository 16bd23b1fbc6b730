/**
 * Store options: defaults, and a value out of range refused with a typed error naming it.
 */
import { describe, expect, it } from 'vitest';
import { isThreadlogError } from '../../src/index.ts';
import { resolveOptions } from '../../src/store/options.ts';

const base = { kafka: { brokers: ['127.0.0.1:1'] }, mongo: { url: 'mongodb://127.0.0.1:1/' } };
const refused = (input: Record<string, unknown>): string | undefined => {
  try {
    resolveOptions({ ...base, ...input } as Parameters<typeof resolveOptions>[0]);
    return undefined;
  } catch (e) {
    return isThreadlogError(e, 'invalid-options') ? e.message : `not invalid-options: ${String(e)}`;
  }
};

describe('resolveOptions', () => {
  it('own threads re-read their projected head once a second by default; 0 reads it every time', () => {
    expect(resolveOptions(base).headCheckMs).toBe(1_000);
    expect(resolveOptions({ ...base, headCheckMs: 0 }).headCheckMs).toBe(0);
  });

  it.each([-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses headCheckMs %s, naming it', (v) => {
    expect(refused({ headCheckMs: v })).toMatch(/headCheckMs must be an integer >= 0/);
  });

  it('refuses a non-positive timeout and an unknown consistency', () => {
    expect(refused({ readTimeoutMs: 0 })).toMatch(/readTimeoutMs must be a positive integer/);
    expect(refused({ consistency: 'linearizable' })).toMatch(/unknown consistency "linearizable"/);
  });
});
