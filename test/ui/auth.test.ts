import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { authorize, checkBind, isLoopback, sameToken, TOKEN_COOKIE } from '../../src/ui/auth.ts';
import { isThreadlogError } from '../../src/errors.ts';

const req = (headers: Record<string, string>): IncomingMessage => ({ headers }) as unknown as IncomingMessage;
const TOKEN = 'a-token-of-enough-length';

describe('viewer access', () => {
  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.3.2.1', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', '128.0.0.1']) expect(isLoopback(h)).toBe(false);
  });

  it('refuses a non-loopback bind without a token, and a short token', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
      try {
        checkBind(host, undefined);
        expect.unreachable();
      } catch (e) {
        expect(isThreadlogError(e, 'invalid-options')).toBe(true);
        expect((e as Error).message).toContain('--token');
      }
    }
    expect(() => checkBind('0.0.0.0', 'short')).toThrow(/at least 16/);
    expect(() => checkBind('0.0.0.0', TOKEN)).not.toThrow();
    expect(() => checkBind('127.0.0.1', undefined)).not.toThrow();
  });

  it('takes the token from the header, the query or the cookie, and nothing else', () => {
    const o = { token: TOKEN, port: 1 };
    const url = (q = '') => new URL(`http://127.0.0.1/api/threads${q}`);
    expect(authorize(req({ authorization: `Bearer ${TOKEN}` }), url(), o)).toEqual({ ok: true, setCookie: false });
    expect(authorize(req({}), url(`?token=${TOKEN}`), o)).toEqual({ ok: true, setCookie: true });
    expect(authorize(req({ cookie: `other=1; ${TOKEN_COOKIE}=${TOKEN}` }), url(), o)).toEqual({ ok: true, setCookie: false });
    for (const r of [req({}), req({ authorization: `Bearer ${TOKEN}x` }), req({ authorization: TOKEN }), req({ cookie: `${TOKEN_COOKIE}=nope` })]) {
      expect(authorize(r, url('?token=wrong'), o)).toMatchObject({ ok: false, status: 401 });
    }
    expect(sameToken(undefined, TOKEN)).toBe(false);
  });

  it('without a token, answers only requests addressed to a loopback name (no DNS rebinding)', () => {
    const o = { token: undefined, port: 4780 };
    const url = new URL('http://127.0.0.1/');
    expect(authorize(req({ host: '127.0.0.1:4780' }), url, o).ok).toBe(true);
    expect(authorize(req({ host: 'localhost:4780' }), url, o).ok).toBe(true);
    expect(authorize(req({ host: '[::1]:4780' }), url, o).ok).toBe(true);
    expect(authorize(req({ host: 'attacker.example:4780' }), url, o)).toMatchObject({ ok: false, status: 403 });
    expect(authorize(req({}), url, o)).toMatchObject({ ok: false, status: 403 });
  });
});
