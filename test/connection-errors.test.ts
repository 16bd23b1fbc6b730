import { describe, expect, it } from 'vitest';
import { configurationError } from '../src/connection-errors.ts';
import { isThreadlogError } from '../src/errors.ts';

const settings = { credentials: 'THREADLOG_X_URL', tls: 'THREADLOG_X_CA' };

describe('configurationError', () => {
  it('names the service and the setting for refused credentials, also inside a cause chain', () => {
    const direct = configurationError('Redis', 'rediss://***@h:1', new Error('WRONGPASS invalid username-password pair or user is disabled.'), settings);
    expect(isThreadlogError(direct, 'auth-failed')).toBe(true);
    expect(direct?.message).toMatch(/^Redis at rediss:\/\/\*\*\*@h:1 refused our credentials .*THREADLOG_X_URL/);
    const nested = configurationError('MongoDB', 'm:1', new Error('server selection', { cause: new Error('Authentication failed.') }), settings);
    expect(isThreadlogError(nested, 'auth-failed')).toBe(true);
    expect(nested?.details).toEqual({ service: 'MongoDB' });
  });

  it('names the CA setting for an untrusted certificate', () => {
    const e = Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    const r = configurationError('Kafka', 'k:9093', e, settings);
    expect(isThreadlogError(r, 'tls-untrusted')).toBe(true);
    expect(r?.message).toContain('THREADLOG_X_CA');
  });

  it('leaves an outage alone', () => {
    expect(configurationError('Redis', 'h:1', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), settings)).toBeUndefined();
    expect(configurationError('Redis', 'h:1', 'not an error', settings)).toBeUndefined();
  });
});
