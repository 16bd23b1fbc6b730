/**
 * The "generation switched" notice: `threadlog rebuild --switch` publishes it after moving
 * the pointer in MongoDB (the pointer is the truth; the notice only makes readers look now
 * instead of at their next periodic check). Channel under the base prefix, no thread tag.
 */
import type { RedisClient } from './client.ts';

export interface GenerationSwitch {
  current: string;
  previous: string | undefined;
}

export const generationChannel = (basePrefix: string): string => `${basePrefix}generation`;

export async function publishGenerationSwitch(redis: RedisClient, basePrefix: string, notice: GenerationSwitch): Promise<void> {
  await redis.publish(generationChannel(basePrefix), JSON.stringify(notice));
}

export interface GenerationSubscription {
  close(): Promise<void>;
}

/** Its own connection (a subscribed one can do nothing else); failures are the caller's fallback poll's problem. */
export async function subscribeGenerationSwitch(redis: RedisClient, basePrefix: string, onSwitch: (n: GenerationSwitch) => void): Promise<GenerationSubscription> {
  const sub = redis.duplicate();
  sub.on('error', () => undefined);
  const channel = generationChannel(basePrefix);
  sub.on('message', (ch: string, message: string) => {
    if (ch !== channel) return;
    try {
      const n = JSON.parse(message) as GenerationSwitch;
      if (typeof n.current === 'string') onSwitch(n);
    } catch {
      // not ours: ignore
    }
  });
  await sub.subscribe(channel);
  return {
    async close() {
      await sub.quit().catch(() => sub.disconnect());
    },
  };
}
