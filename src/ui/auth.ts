/**
 * Who may read the viewer. On a loopback address only this machine reaches it, and a Host
 * check keeps other web sites out (DNS rebinding: a page that resolves its own name to
 * 127.0.0.1 would otherwise read the threads through the visitor's browser). On any other
 * address a token is required, and every request must carry it: `Authorization: Bearer`, a
 * `token` query parameter (the URL `threadlog ui` prints), or the cookie a page load with a
 * valid query parameter sets, so that the page's own scripts and styles load.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { ThreadlogError } from '../errors.ts';

export const TOKEN_COOKIE = 'threadlog_ui_token';
export const MIN_TOKEN_LENGTH = 16;

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  // ::ffff:127.0.0.1
  return /^::ffff:127\./.test(h);
}

/** Refuses a bind the viewer must not make: another address without a token, or a weak token. */
export function checkBind(host: string, token: string | undefined): void {
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new ThreadlogError('invalid-options', `the token must be at least ${MIN_TOKEN_LENGTH} characters; make one with: openssl rand -hex 16`);
  }
  if (!isLoopback(host) && token === undefined) {
    throw new ThreadlogError('invalid-options', `binding the viewer to ${host} makes every thread readable from the network: pass --token <secret> (every request must then carry it), or bind to 127.0.0.1`);
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time comparison (hashes first, so lengths do not leak either). */
export function sameToken(given: string | undefined, token: string): boolean {
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export type AuthResult = { ok: true; setCookie: boolean } | { ok: false; status: 401 | 403; message: string };

/** `url` is the request's parsed URL. */
export function authorize(req: IncomingMessage, url: URL, o: { token: string | undefined; port: number }): AuthResult {
  if (o.token === undefined) {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (!isLoopback(host)) return { ok: false, status: 403, message: `this viewer only answers requests addressed to 127.0.0.1:${o.port} or localhost:${o.port}` };
    return { ok: true, setCookie: false };
  }
  const auth = req.headers.authorization;
  const bearer = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
  if (sameToken(bearer, o.token)) return { ok: true, setCookie: false };
  if (sameToken(url.searchParams.get('token') ?? undefined, o.token)) return { ok: true, setCookie: true };
  if (sameToken(cookie(req, TOKEN_COOKIE), o.token)) return { ok: true, setCookie: false };
  return { ok: false, status: 401, message: 'this viewer needs its token: open the URL threadlog ui printed (…/?token=…), or send Authorization: Bearer <token>' };
}

export const tokenCookie = (token: string): string => `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`;
