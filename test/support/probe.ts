import { probeServices as probe } from '../../src/health.ts';
import type { StackEndpoints } from './env.ts';

export type ServiceName = 'kafka' | 'ferretdb' | 'redis';

/** null when the service answered, else why not; named after the local stack's services. */
export async function probeServices(ep: StackEndpoints): Promise<Record<ServiceName, string | null>> {
  const r = await probe(ep);
  const why = (p: { ok: boolean; error?: string }): string | null => (p.ok ? null : (p.error ?? 'no answer'));
  return { kafka: why(r.kafka), ferretdb: why(r.mongodb), redis: why(r.redis) };
}
