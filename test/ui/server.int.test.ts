/**
 * The viewer's HTTP surface against the real stack: what it refuses (a network bind without a
 * token, requests without the token, any method but GET/HEAD, foreign Host names, operator
 * filters) and what its API answers (threads recent and by prefix, paged; a thread's
 * checkpoints with pending-write marks; a checkpoint; a diff; hostile ids as plain JSON).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { startUiServer } from '../../src/ui/server.ts';
import { createViewerData } from '../../src/ui/data.ts';
import { isThreadlogError } from '../../src/errors.ts';
import type { CheckpointMetadata } from '@langchain/langgraph-checkpoint';
import type { CheckpointStore } from '../../src/store/types.ts';
import { useIsolatedStack } from '../support/isolation.ts';
import { checkpoint, GENERATION, openStore, PARTITIONS } from '../store/helpers.ts';
import { writeThread } from '../cli/helpers.ts';
import { buildAssets, startTestViewer } from './helpers.ts';

const stack = useIsolatedStack();
const TOKEN = 'test-token-0123456789abcdef';
export const HOSTILE = `evil"<script>alert('x')</script>'&amp;`;

/** a raw request, so Host and methods are exactly what the test says */
function call(url: string, o: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? 'GET', headers: o.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the viewer server', () => {
  let store: CheckpointStore;
  let assets: string;
  let open: string;
  let locked: string;

  beforeAll(async () => {
    assets = await buildAssets();
    store = await openStore(stack, { embeddedProjector: true });
    await writeThread(store, 'alpha-1', 3);
    await writeThread(store, 'alpha-2', 2);
    await writeThread(store, 'beta-1', 2);
    const cp = checkpoint({ note: `<img src=x onerror="alert(1)">` });
    await store.save({ threadId: HOSTILE, checkpoint: cp, metadata: { source: 'input', step: -1, parents: {}, 'quote"key': `"><script>alert(2)</script>` } as CheckpointMetadata, newVersions: cp.channel_versions });
    for (const t of ['alpha-1', 'alpha-2', 'beta-1', HOSTILE]) await store.load({ threadId: t }, { consistency: 'strong' });
    open = (await startTestViewer(stack, store, assets)).url;
    locked = (await startTestViewer(stack, store, assets, { token: TOKEN })).url;
  });

  it('refuses to bind beyond loopback without a token', async () => {
    const data = createViewerData({ db: (await stack.mongo()).db(stack.dbName), generation: GENERATION, store, kafka: stack.kafka, topic: `${stack.topicPrefix}.checkpoints`, partitions: PARTITIONS });
    for (const host of ['0.0.0.0', '::']) {
      const e = await startUiServer({ host, port: 0, assetsDir: assets, data }).catch((x: unknown) => x);
      expect(isThreadlogError(e, 'invalid-options')).toBe(true);
      expect((e as Error).message).toMatch(/--token/);
    }
    await data.close();
  });

  it('with a token, refuses every request without it (401) and serves those with it', async () => {
    for (const path of ['/', '/api/threads', '/api/thread?thread=alpha-1', '/assets/missing.js', '/api/live?thread=alpha-1']) {
      const r = await call(`${locked}${path}`);
      expect(r.status, path).toBe(401);
      expect(r.body).not.toContain('alpha');
    }
    expect((await call(`${locked}/api/threads`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    expect((await call(`${locked}/api/threads?token=wrong`)).status).toBe(401);
    const ok = await call(`${locked}/api/threads`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    // the page opened with ?token= gets a cookie its scripts and API calls then carry
    const page = await call(`${locked}/?token=${TOKEN}`);
    expect(page.status).toBe(200);
    const cookie = String(page.headers['set-cookie']).split(';')[0]!;
    expect(cookie).toContain('threadlog_ui_token=');
    expect(String(page.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict/);
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(page.body)?.[1];
    expect((await call(`${locked}/${script}`, { headers: { cookie } })).status).toBe(200);
    expect((await call(`${locked}/api/threads`, { headers: { cookie } })).status).toBe(200);
  });

  it('exposes no write operation: every other method is 405', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      for (const path of ['/api/threads', '/api/thread?thread=alpha-1', '/api/checkpoint', '/']) {
        const r = await call(`${open}${path}`, { method });
        expect(r.status, `${method} ${path}`).toBe(405);
        expect(r.headers.allow).toBe('GET, HEAD');
      }
      expect((await call(`${locked}/api/threads`, { method, headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(405);
    }
  });

  it('answers only loopback Host names when it has no token, and sends a strict CSP', async () => {
    const port = new URL(open).port;
    expect((await call(`${open}/api/threads`, { headers: { host: `rebound.example:${port}` } })).status).toBe(403);
    const page = await call(`${open}/`, { headers: { host: `localhost:${port}` } });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.body).not.toMatch(/https?:\/\/(?!127)/);
    expect((await call(`${open}/../package.json`)).status).toBe(404);
    expect((await call(`${open}/%2e%2e/package.json`)).status).toBe(404);
  });

  it('lists recent threads, searches by prefix and by the safe metadata filter, paged', async () => {
    const get = async (q: string) => JSON.parse((await call(`${open}/api/threads${q}`)).body) as { threads: Array<{ threadId: string }>; next?: string; error?: { code: string } };
    const recent = await get('');
    expect(recent.threads.map((t) => t.threadId).sort()).toEqual(['alpha-1', 'alpha-2', 'beta-1', HOSTILE].sort());
    const page1 = await get('?prefix=alpha&limit=1');
    expect(page1.threads.map((t) => t.threadId)).toEqual(['alpha-1']);
    const page2 = await get(`?prefix=alpha&limit=1&cursor=${encodeURIComponent(page1.next!)}`);
    expect(page2.threads.map((t) => t.threadId)).toEqual(['alpha-2']);
    expect((await get(`?limit=2`)).next).toBeDefined();
    const filtered = await get(`?filter=${encodeURIComponent(JSON.stringify({ source: 'input' }))}`);
    expect(filtered.threads.map((t) => t.threadId).sort()).toEqual(['alpha-1', 'alpha-2', 'beta-1', HOSTILE].sort());
    const hostile = await get(`?filter=${encodeURIComponent(JSON.stringify({ step: -1 }))}`);
    expect(hostile.threads.map((t) => t.threadId)).toEqual([HOSTILE]);
    // operators never reach MongoDB
    for (const f of [{ $where: '1' }, { step: { $gt: 0 } }, { 'a.b': 1 }]) {
      const r = await call(`${open}/api/threads?filter=${encodeURIComponent(JSON.stringify(f))}`);
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body).error.code).toBe('invalid-filter');
    }
    expect((await call(`${open}/api/threads?filter=not-json`)).status).toBe(400);
    expect((await call(`${open}/api/threads?limit=0`)).status).toBe(400);
  });

  it("serves a thread's checkpoints with parents and pending writes, a checkpoint and its diff", async () => {
    const thread = JSON.parse((await call(`${open}/api/thread?thread=alpha-1`)).body) as { checkpoints: Array<{ checkpointId: string; parentCheckpointId: string | null; writes: unknown[]; position: string }> };
    expect(thread.checkpoints).toHaveLength(3);
    expect(thread.checkpoints[0]!.parentCheckpointId).toBe(thread.checkpoints[1]!.checkpointId);
    expect(thread.checkpoints[0]!.writes).toEqual([{ taskId: 'task-2', channel: 'messages' }]);
    expect(thread.checkpoints[0]!.position).toMatch(/^\d+:\d+$/);
    const paged = JSON.parse((await call(`${open}/api/thread?thread=alpha-1&limit=2`)).body) as { checkpoints: unknown[]; next: string };
    expect(paged.checkpoints).toHaveLength(2);
    expect(paged.next).toBe(thread.checkpoints[1]!.checkpointId);
    const id = thread.checkpoints[0]!.checkpointId;
    const detail = JSON.parse((await call(`${open}/api/checkpoint?thread=alpha-1&ns=&id=${id}`)).body) as { state: { messages: string[] }; pendingWrites: Array<{ value: unknown }> };
    expect(detail.state.messages).toEqual(['message 0', 'message 1', 'message 2']);
    expect(detail.pendingWrites[0]!.value).toBe('reply 2');
    const diff = JSON.parse((await call(`${open}/api/diff?thread=alpha-1&ns=&id=${id}`)).body) as { channels: unknown[] };
    expect(diff.channels).toContainEqual({ channel: 'messages', kind: 'appended', appended: 1 });
    const missing = await call(`${open}/api/checkpoint?thread=alpha-1&ns=&id=1f000000-0000-6000-8000-000000000000`);
    expect(missing.status).toBe(404);
    expect((await call(`${open}/api/thread`)).status).toBe(400);
    expect((await call(`${open}/api/nothing`)).status).toBe(404);
  });

  it('returns hostile ids and metadata as plain JSON strings', async () => {
    const r = await call(`${open}/api/thread?thread=${encodeURIComponent(HOSTILE)}`);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(r.body) as { threadId: string; checkpoints: Array<{ metadata: Record<string, unknown> }> };
    expect(body.threadId).toBe(HOSTILE);
    expect(body.checkpoints[0]!.metadata['quote"key']).toBe(`"><script>alert(2)</script>`);
  });
});
