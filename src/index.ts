export * from './store/types.ts';
export { createCheckpointStore } from './store/checkpoint-store.ts';
export {
  defaultCheckpointStoreOptions,
  type CheckpointStoreInput,
  type CheckpointStoreOptions,
  type EncryptionOptions,
  type KafkaConnectionOptions,
  type MongoConnectionOptions,
  type RedisConnectionOptions,
} from './store/options.ts';
export { validateMetadataFilter } from './store/filter.ts';
export { errorCodes, isThreadlogError, ThreadlogError, type ThreadlogErrorCode, type ThreadlogErrorOptions } from './errors.ts';
export type {
  ChannelValue,
  ChannelVersion,
  CheckpointEvent,
  CheckpointHeader,
  EventType,
  LogPosition,
  PendingWrite,
  Receipt,
  ThreadDeletedEvent,
  ThreadErasedEvent,
  ThreadlogEvent,
  TypedValue,
  WritesEvent,
} from './events/types.ts';
export { createProjector, defaultProjectorOptions, type Projector, type ProjectorOptions } from './projector/index.ts';
export { silentLogger, type Logger } from './logger.ts';
export { ThreadlogSaver, type ThreadlogSaverOptions } from './langgraph/saver.ts';
export { createLocalKeyProvider, parseMasterKey, type KeyProvider, type WrapContext } from './crypto/key-provider.ts';
