import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { murmur2, partitionFor } from '../../src/kafka/partition.ts';

// kafkajs' own (Long-based) implementation, the reference we must match bit for bit.
const require = createRequire(import.meta.url);
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number;

describe('murmur2 / partitionFor', () => {
  it('matches kafkajs for random keys of every length', () => {
    for (let len = 0; len < 64; len++) {
      for (let i = 0; i < 20; i++) {
        const key = randomBytes(len);
        expect(murmur2(key)).toBe(kafkajsMurmur2(key));
      }
    }
  });

  it('matches the Java client on known vectors', () => {
    // values from org.apache.kafka.common.utils.UtilsTest#testMurmur2
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(Buffer.from('a-little-bit-longer-string'))).toBe(-1486304829);
    expect(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971);
    expect(murmur2(Buffer.from([97, 98, 99]))).toBe(479470107);
  });

  it('is in range and rejects a bad partition count', () => {
    for (let i = 0; i < 1000; i++) {
      const p = partitionFor(`t-${i}`, 7);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(7);
    }
    expect(() => partitionFor('x', 0)).toThrow(RangeError);
  });
});
