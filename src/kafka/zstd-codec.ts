/**
 * kafkajs ships no ZSTD codec; this registers one built on @mongodb-js/zstd so record batches
 * can be compressed by the client (and consumers can read batches other clients compressed
 * with zstd). Registration is process-wide in kafkajs, hence idempotent here.
 */
// kafkajs is CommonJS; Node's ESM loader does not see CompressionCodecs as a named export.
import kafkajs from 'kafkajs';
import { compress, decompress } from '@mongodb-js/zstd';

const { CompressionCodecs, CompressionTypes } = kafkajs;

export interface ZstdCodecOptions {
  /** zstd level; 3 is zstd's own default: most of the ratio for little CPU */
  level?: number;
  /** sees every compressed record batch (bytes in, bytes out): for metrics and benchmarks */
  onCompress?: (inBytes: number, outBytes: number) => void;
}

let registered: ZstdCodecOptions | undefined;

export function registerZstdCodec({ level = 3, onCompress }: ZstdCodecOptions = {}): void {
  if (registered?.level === level && registered.onCompress === onCompress) return;
  const codec = {
    // kafkajs hands the uncompressed record set as an Encoder whose `buffer` holds the bytes.
    async compress(encoder: { buffer: Buffer }): Promise<Buffer> {
      const out = await compress(encoder.buffer, level);
      onCompress?.(encoder.buffer.length, out.length);
      return out;
    },
    async decompress(buffer: Buffer): Promise<Buffer> {
      return decompress(buffer);
    },
  };
  (CompressionCodecs as Record<number, () => unknown>)[CompressionTypes.ZSTD] = () => codec;
  registered = { level, onCompress };
}
