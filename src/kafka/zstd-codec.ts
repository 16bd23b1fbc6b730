/**
 * kafkajs ships no ZSTD codec; this registers one built on @mongodb-js/zstd so record batches
 * can be compressed by the client (and consumers can read batches other clients compressed
 * with zstd). Registration is process-wide in kafkajs, hence idempotent here.
 */
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { compress, decompress } from '@mongodb-js/zstd';

export interface ZstdCodecOptions {
  /** zstd level; 3 is zstd's own default: most of the ratio for little CPU */
  level?: number;
}

let registeredLevel: number | undefined;

export function registerZstdCodec({ level = 3 }: ZstdCodecOptions = {}): void {
  if (registeredLevel === level) return;
  const codec = {
    // kafkajs hands the uncompressed record set as an Encoder whose `buffer` holds the bytes.
    async compress(encoder: { buffer: Buffer }): Promise<Buffer> {
      return compress(encoder.buffer, level);
    },
    async decompress(buffer: Buffer): Promise<Buffer> {
      return decompress(buffer);
    },
  };
  (CompressionCodecs as Record<number, () => unknown>)[CompressionTypes.ZSTD] = () => codec;
  registeredLevel = level;
}
