export { createProjector, defaultProjectorOptions, type PartitionLag, type Projector, type ProjectorOptions } from './projector.ts';
export { createPartitionProcessor, checkpointCacheEntry, defaultMaxEventsPerApply, defaultMaxThreadsPerApply, slices, type PartitionProcessor, type ProjectionApplier, type CacheUpkeep, type BaseChecks } from './partition-processor.ts';
export { deadLetterHeaderNames, type DeadLetterRecord } from './dead-letter.ts';
export { createProjectorMetrics, noopProjectorMetrics, type ProjectorMetrics, type RetryCause } from './metrics.ts';
export { backoffDelay, defaultBackoffOptions, withRetry, type BackoffOptions, type RetryHooks } from './retry.ts';
