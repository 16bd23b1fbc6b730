export * from './types.ts';
export {
  createEventCodec,
  defaultEventCodecOptions,
  storedBytes,
  type EncodedRecord,
  type EventCodec,
  type EventCodecOptions,
} from './codec.ts';
export {
  createChunkAssembler,
  defaultChunkAssemblerOptions,
  type AssembledRecord,
  type ChunkAssembler,
  type ChunkAssemblerOptions,
  type ChunkResult,
  type IncompleteReason,
  type IncompleteSequence,
  type LogRecord,
} from './chunks.ts';
export {
  collectDeltaChain,
  createDeltaEncoder,
  encodeAcknowledged,
  skipDeltaBase,
  defaultDeltaEncoderOptions,
  resolveChannelValue,
  resolveChannelBytes,
  resolveChannelValueWith,
  type ChannelValueLookup,
  type DeltaChainOptions,
  type DeltaEncoder,
  type DeltaEncoderOptions,
  type DeltaTicket,
} from './deltas.ts';
export {
  defaultValidationOptions,
  isEventType,
  serializeValue,
  validateCheckpointHeader,
  validateCheckpointId,
  validateCheckpointNs,
  validateEvent,
  validateThreadId,
  type ValidationOptions,
} from './validate.ts';
export { headerNames, type RawRecord, type RecordHeaders, type HeaderValue } from './wire.ts';
