/**
 * Master keys. A thread's data key is stored only wrapped (encrypted) by a master key that a
 * KeyProvider holds; threadlog never sees the master key itself through this interface, so a
 * KMS (AWS KMS Encrypt/Decrypt with an encryption context, GCP KMS, Vault transit) plugs in
 * as a provider of its own. The local provider takes a 32-byte key the entry point read from
 * a file or the environment (docs/security.md).
 */
import { createHmac, createSecretKey, createCipheriv, createDecipheriv, randomFillSync, type KeyObject } from 'node:crypto';
import { ThreadlogError } from '../errors.ts';

export interface WrapContext {
  /** the thread whose data key this is: bound into the wrapping, so a wrapped key cannot be moved to another thread */
  threadId: string;
}

export interface KeyProvider {
  /**
   * A stable, non-secret name of the master key, stored beside every key it wrapped: it
   * tells which provider unwraps a key and which keys a rotation still has to re-wrap.
   */
  readonly keyId: string;
  /** encrypts a 32-byte data key */
  wrap(dataKey: Uint8Array, context: WrapContext): Promise<Uint8Array>;
  /** decrypts what `wrap` returned; fails (rejects) for another master key or altered bytes */
  unwrap(wrapped: Uint8Array, context: WrapContext): Promise<Uint8Array>;
}

export const MASTER_KEY_BYTES = 32;
const WRAP_FORMAT = 0x01;

/**
 * A master key given as text or bytes: 32 raw bytes, 64 hex digits, or base64 of 32 bytes
 * (surrounding whitespace ignored: a file written by `openssl rand -hex 32 > key` works).
 */
export function parseMasterKey(input: Uint8Array | string, where = 'the master key'): Buffer {
  if (typeof input !== 'string' && input.byteLength === MASTER_KEY_BYTES) return Buffer.from(input);
  const text = (typeof input === 'string' ? input : Buffer.from(input).toString('utf8')).trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) {
    const b = Buffer.from(text, 'base64');
    if (b.length === MASTER_KEY_BYTES) return b;
  }
  throw new ThreadlogError('invalid-options', `${where} must be 32 bytes: 32 raw bytes, 64 hex digits or base64 (make one with: openssl rand -hex 32)`);
}

/** the id of a local master key: an HMAC of a fixed label, so it names the key without revealing it */
export function localKeyId(key: Uint8Array): string {
  return `local:${createHmac('sha256', key).update('threadlog master key id v1').digest('hex').slice(0, 16)}`;
}

const wrapAad = (threadId: string): Buffer => Buffer.from(`threadlog/v1/dek\u0000${threadId}`, 'utf8');

/**
 * The local provider: AES-256-GCM with the master key, a fresh nonce per wrap, the thread id
 * as associated data. Wrapped form: 0x01 | nonce (12) | encrypted key (32) | tag (16).
 */
export function createLocalKeyProvider(masterKey: Uint8Array, options: { keyId?: string } = {}): KeyProvider {
  const raw = parseMasterKey(masterKey);
  const key: KeyObject = createSecretKey(raw);
  const keyId = options.keyId ?? localKeyId(raw);
  raw.fill(0);
  return {
    keyId,
    async wrap(dataKey, { threadId }) {
      if (dataKey.byteLength !== MASTER_KEY_BYTES) throw new ThreadlogError('invalid-options', `a data key must be ${MASTER_KEY_BYTES} bytes`);
      const out = Buffer.allocUnsafe(1 + 12 + dataKey.byteLength + 16);
      out[0] = WRAP_FORMAT;
      const nonce = out.subarray(1, 13);
      randomFillSync(nonce);
      const c = createCipheriv('aes-256-gcm', key, nonce);
      c.setAAD(wrapAad(threadId));
      c.update(dataKey).copy(out, 13);
      c.final();
      c.getAuthTag().copy(out, 13 + dataKey.byteLength);
      return out;
    },
    async unwrap(wrapped, { threadId }) {
      const buf = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
      if (buf.length !== 1 + 12 + MASTER_KEY_BYTES + 16 || buf[0] !== WRAP_FORMAT) {
        throw new ThreadlogError('wrong-master-key', `the wrapped data key of thread ${JSON.stringify(threadId)} is not in the local provider's format (${buf.length} bytes)`);
      }
      try {
        const d = createDecipheriv('aes-256-gcm', key, buf.subarray(1, 13));
        d.setAAD(wrapAad(threadId));
        d.setAuthTag(buf.subarray(buf.length - 16));
        const plain = d.update(buf.subarray(13, buf.length - 16));
        d.final();
        return plain;
      } catch (cause) {
        throw new ThreadlogError('wrong-master-key', `the data key of thread ${JSON.stringify(threadId)} does not unwrap with master key ${keyId}: another master key under the same id, or an altered key document`, { cause });
      }
    },
  };
}
