/**
 * The timeline viewer's HTTP server (`threadlog ui`): a read-only JSON API over the store and
 * the projection, server-sent events for live updates, and the built front end. Plain
 * node:http: a handful of GET routes do not need a framework. Only GET and HEAD are
 * answered (anything else is 405: there is no write operation to reach); every response
 * carries a Content-Security-Policy that allows the page's own scripts only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ThreadlogError, isThreadlogError, type ThreadlogErrorCode } from '../errors.ts';
import { partitionFor } from '../kafka/partition.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { authorize, checkBind, tokenCookie } from './auth.ts';
import type { ViewerData } from './data.ts';
import { serveLive, type LiveFeed } from './live.ts';
import { checkAssets, serveStatic } from './static.ts';

export interface UiServerOptions {
  /** default 127.0.0.1; any other address needs `token` */
  host: string;
  /** 0 picks a free port */
  port: number;
  token?: string;
  /** the built front end (web/dist) */
  assetsDir: string;
  data: ViewerData;
  /** live updates; without it /api/live answers 503 */
  feed?: LiveFeed;
  logger?: Logger;
}

export interface UiServer {
  /** where it listens */
  url: string;
  /** the URL to open: with the token when there is one */
  openUrl: string;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const securityHeaders = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const statusOf = (code: ThreadlogErrorCode): number =>
  code === 'not-found' ? 404 : code.startsWith('invalid-') ? 400 : code.endsWith('-unavailable') || code === 'stale-read' || code === 'timeout' ? 503 : 500;

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function intParam(url: URL, name: string, def: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return def;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new ThreadlogError('invalid-options', `${name} must be an integer from 1 to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function required(url: URL, name: string): string {
  const v = url.searchParams.get(name);
  if (v === null || v === '') throw new ThreadlogError('invalid-options', `the query parameter ${name} is required`);
  return v;
}

const optional = (url: URL, name: string): string | undefined => {
  const v = url.searchParams.get(name);
  return v === null || v === '' ? undefined : v;
};

function parseFilter(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new ThreadlogError('invalid-filter', 'the metadata filter must be a JSON object of key: value pairs, e.g. {"source":"input"}');
  }
}

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const o = { logger: silentLogger, ...options, assetsDir: path.resolve(options.assetsDir) };
  const log = o.logger.child({ component: 'ui-server' });
  checkBind(o.host, o.token);
  await checkAssets(o.assetsDir);
  let port = o.port;

  async function api(url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const d = o.data;
    switch (url.pathname) {
      case '/api/threads':
        return sendJson(res, 200, await d.threads({ limit: intParam(url, 'limit', 50, 500), prefix: optional(url, 'prefix'), filter: parseFilter(optional(url, 'filter')), cursor: optional(url, 'cursor') }));
      case '/api/thread': {
        const threadId = required(url, 'thread');
        const partition = partitionFor(threadId, d.partitions);
        return sendJson(res, 200, { threadId, partition, ...(await d.thread(threadId, { limit: intParam(url, 'limit', 200, 1000), before: optional(url, 'before') })) });
      }
      case '/api/checkpoint':
        return sendJson(res, 200, await d.checkpoint(required(url, 'thread'), url.searchParams.get('ns') ?? '', required(url, 'id')));
      case '/api/diff':
        return sendJson(res, 200, await d.diff(required(url, 'thread'), url.searchParams.get('ns') ?? '', required(url, 'id')));
      case '/api/audit':
        return sendJson(res, 200, await d.audit(required(url, 'thread')));
      case '/api/lag': {
        const thread = optional(url, 'thread');
        return sendJson(res, 200, { partitions: await d.lag(thread === undefined ? undefined : partitionFor(thread, d.partitions)) });
      }
      case '/api/live': {
        if (o.feed === undefined) throw new ThreadlogError('redis-unavailable', 'live updates are off in this viewer', { retriable: true });
        const threadId = required(url, 'thread');
        return serveLive(req, res, { data: d, feed: o.feed, threadId, partition: partitionFor(threadId, d.partitions), since: optional(url, 'since'), logger: log });
      }
      default:
        return sendJson(res, 404, { error: { code: 'not-found', message: `no API route ${url.pathname}` } });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(securityHeaders)) res.setHeader(k, v);
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const auth = authorize(req, url, { token: o.token, port });
    if (!auth.ok) {
      if (auth.status === 401) res.setHeader('www-authenticate', 'Bearer realm="threadlog ui"');
      return sendJson(res, auth.status, { error: { code: 'unauthorized', message: auth.message } });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendJson(res, 405, { error: { code: 'method-not-allowed', message: 'the viewer is read-only: only GET and HEAD are answered' } });
    }
    if (auth.setCookie && o.token !== undefined) res.setHeader('set-cookie', tokenCookie(o.token));
    if (url.pathname.startsWith('/api/')) {
      try {
        await api(url, req, res);
      } catch (e) {
        if (!isThreadlogError(e)) {
          log.error({ err: e, path: url.pathname }, 'viewer request failed');
          return sendJson(res, 500, { error: { code: 'internal', message: e instanceof Error ? e.message : String(e) } });
        }
        return sendJson(res, statusOf(e.code), { error: { code: e.code, message: e.message } });
      }
      return;
    }
    if (!(await serveStatic(o.assetsDir, url.pathname, res))) sendJson(res, 404, { error: { code: 'not-found', message: `no such page: ${url.pathname}` } });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      log.error({ err: e }, 'viewer request failed');
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal', message: 'internal error' } });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new ThreadlogError('invalid-options', `cannot listen on ${o.host}:${o.port}: ${e.code === 'EADDRINUSE' ? 'the port is in use; pick another with --port' : e.message}`, { cause: e })),
    );
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  port = addr.port;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${port}`;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  return { url, openUrl: o.token === undefined ? `${url}/` : `${url}/?token=${encodeURIComponent(o.token)}`, close, [Symbol.asyncDispose]: close };
}
