/**
 * Calls to the viewer's own read-only API. The token, when the server needs one, travels in
 * the cookie the page got when it was opened with ?token=, so nothing here handles it.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function getJson<T>(path: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const qs = q.toString();
  const res = await fetch(`${path}${qs ? `?${qs}` : ''}`, { headers: { accept: 'application/json' } });
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (!res.ok) throw new ApiError(res.status, body.error?.code ?? 'error', body.error?.message ?? `${res.status} ${res.statusText}`);
  return body as T;
}

export const liveUrl = (threadId: string, since: string | undefined): string => {
  const q = new URLSearchParams({ thread: threadId });
  if (since !== undefined) q.set('since', since);
  return `/api/live?${q.toString()}`;
};

/** `#/t/<thread>` and `#/t/<thread>/<ns>/<checkpoint>`; each part URI-encoded. */
export type Route = { view: 'threads' } | { view: 'thread'; threadId: string; ns?: string; checkpointId?: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/');
  if (parts[0] !== 't' || parts[1] === undefined || parts[1] === '') return { view: 'threads' };
  try {
    const threadId = decodeURIComponent(parts[1]);
    if (parts.length >= 4) return { view: 'thread', threadId, ns: decodeURIComponent(parts[2]!), checkpointId: decodeURIComponent(parts[3]!) };
    return { view: 'thread', threadId };
  } catch {
    return { view: 'threads' };
  }
}

export const threadHref = (threadId: string): string => `#/t/${encodeURIComponent(threadId)}`;
export const checkpointHref = (threadId: string, ns: string, id: string): string => `#/t/${encodeURIComponent(threadId)}/${encodeURIComponent(ns)}/${encodeURIComponent(id)}`;
