/** The committed schema v1 log (test/fixtures/v1-log.json), written by the SDK before schema v2. */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface FixtureRecord {
  partition: number;
  offset: string;
  key: string;
  headers: Record<string, string>;
  value: string;
}
export function v1Fixture(): { partitions: number; records: FixtureRecord[] } {
  return JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../fixtures/v1-log.json'), 'utf8')) as { partitions: number; records: FixtureRecord[] };
}

