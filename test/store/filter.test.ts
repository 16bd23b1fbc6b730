import { describe, expect, it } from 'vitest';
import { isThreadlogError } from '../../src/errors.ts';
import { matchesFilter, validateMetadataFilter } from '../../src/store/filter.ts';

const rejects = (f: unknown): boolean => {
  try {
    validateMetadataFilter(f);
    return false;
  } catch (e) {
    return isThreadlogError(e, 'invalid-filter');
  }
};

describe('validateMetadataFilter', () => {
  it('accepts primitive equality on plain keys', () => {
    expect(validateMetadataFilter({ source: 'loop', step: 3, done: false, parent: null, 'with space': 'ok', 'ü': 1 })).toBeTruthy();
    expect(validateMetadataFilter(undefined)).toBeUndefined();
  });

  it.each([
    [{ $where: 'sleep(100)' }],
    [{ $or: [{ a: 1 }] }],
    [{ 'a.b': 1 }],
    [{ '.': 1 }],
    [{ '': 1 }],
    [{ a: { $ne: null } }],
    [{ a: { nested: 1 } }],
    [{ a: [1, 2] }],
    [{ a: undefined }],
    [{ a: Number.POSITIVE_INFINITY }],
    [{ a: 1n }],
    [{ a: () => 1 }],
    [{ [Symbol('s')]: 1 }],
    [[]],
    ['source'],
    [null],
    [new Map([['a', 1]])],
    [Object.assign(Object.create({ inherited: 1 }) as object, { a: 1 })],
  ])('rejects case %#', (f) => {
    expect(rejects(f)).toBe(true);
  });

  it('matches in memory like MongoDB $eq (null also matches a missing key)', () => {
    expect(matchesFilter({ a: 1, b: 'x' }, { a: 1 })).toBe(true);
    expect(matchesFilter({ a: 1 }, { a: '1' })).toBe(false);
    expect(matchesFilter({}, { a: null })).toBe(true);
    expect(matchesFilter({ a: 0 }, { a: null })).toBe(false);
    expect(matchesFilter({ a: 1 }, undefined)).toBe(true);
  });
});
