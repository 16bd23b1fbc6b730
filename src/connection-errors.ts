/**
 * Connection failures that are configuration, not outages: a wrong password (or an ACL that
 * refuses us) and a TLS certificate we do not trust. Waiting or falling back would hide them,
 * so they become typed errors that name the service and the setting to fix; everything else
 * (a server that is down) is left to the caller's usual handling.
 */
import { ThreadlogError } from './errors.ts';

export type Service = 'Kafka' | 'MongoDB' | 'Redis';

const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const AUTH = /\b(WRONGPASS|NOAUTH|NOPERM|invalid username-password pair|Authentication failed|SASL Authentication failed|SaslAuthenticationFailed|auth(entication)? error)\b/i;

/** the first error of a chain (err.cause, err.reason, MongoDB's nested ones) that says more */
function chain(e: unknown): Array<Error & { code?: unknown }> {
  const out: Array<Error & { code?: unknown }> = [];
  const seen = new Set<unknown>();
  let cur: unknown = e;
  while (cur instanceof Error && !seen.has(cur) && out.length < 8) {
    seen.add(cur);
    out.push(cur as Error & { code?: unknown });
    const c = cur as { cause?: unknown; reason?: unknown };
    cur = c.cause ?? (c.reason instanceof Error ? c.reason : undefined);
  }
  return out;
}

/**
 * A typed error for a configuration failure (credentials, TLS trust) of `service` at `where`,
 * or undefined when `e` is something else. `settings` names where to fix each.
 */
export function configurationError(service: Service, where: string, e: unknown, settings: { credentials: string; tls: string }): ThreadlogError | undefined {
  for (const err of chain(e)) {
    const code = typeof err.code === 'string' ? err.code : '';
    if (TLS_CODES.has(code) || /certificate|self[- ]signed/i.test(err.message)) {
      return new ThreadlogError('tls-untrusted', `${service} at ${where}: its TLS certificate is not trusted (${code || err.message}): give the CA that signed it (${settings.tls}), and check the host name matches the certificate`, { cause: e, details: { service } });
    }
    if (AUTH.test(err.message)) {
      return new ThreadlogError('auth-failed', `${service} at ${where} refused our credentials (${err.message}): check the user and password (${settings.credentials}) and what the account may do`, { cause: e, details: { service } });
    }
  }
  return undefined;
}
