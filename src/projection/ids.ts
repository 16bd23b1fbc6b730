/**
 * Document `_id`s. Every projection document is addressed by one string `_id`, the fastest
 * lookup on MongoDB and the only one FerretDB pushes down to its storage. Thread ids are
 * opaque, so each component is escaped:
 * - `%` and `:` are percent-encoded, so an encoded component never contains the separator
 *   and `prefix(...) + ':'` selects exactly one thread (or thread + namespace), never a
 *   thread whose id merely starts with the same characters;
 * - control characters and lone UTF-16 surrogates are encoded too: BSON stores UTF-8, where
 *   a lone surrogate would silently become U+FFFD and two distinct ids would collide.
 * Components made only of safe characters (uuid6 checkpoint ids) are unchanged, so `_id`
 * order equals checkpoint-id order and a range scan lists a thread newest first.
 */
import type { ChannelVersion } from '../events/types.ts';

// eslint-disable-next-line no-control-regex
const UNSAFE = /[%:\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const hex = (code: number, width: number): string => code.toString(16).toUpperCase().padStart(width, '0');

/** Escape one `_id` component; injective, and the result never contains `:`. */
export function encodeIdPart(part: string): string {
  return part.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code > 0xff ? `%u${hex(code, 4)}` : `%${hex(code, 2)}`;
  });
}

/**
 * Channel versions are numbers or strings and `1` must not collide with `"1"`: a type letter
 * goes first. Numbers keep their decimal form (readable; the order of blobs does not matter).
 */
export function encodeVersion(version: ChannelVersion): string {
  return typeof version === 'number' ? `n${version}` : `s${encodeIdPart(version)}`;
}

export function decodeVersion(encoded: string): ChannelVersion {
  return encoded.startsWith('n') ? Number(encoded.slice(1)) : decodeURIComponentLoose(encoded.slice(1));
}

function decodeURIComponentLoose(s: string): string {
  return s.replace(/%u([0-9A-F]{4})|%([0-9A-F]{2})/g, (_m, u: string | undefined, b: string | undefined) =>
    String.fromCharCode(parseInt(u ?? b ?? '0', 16)),
  );
}

/** Inverse of encodeIdPart (used by tools that read `_id`s back, and by the tests). */
export const decodeIdPart = decodeURIComponentLoose;

const join = (kind: string, parts: readonly string[]): string => [kind, ...parts.map(encodeIdPart)].join(':');

export const ids = {
  checkpoint: (thread: string, ns: string, checkpointId: string): string => join('cp', [thread, ns, checkpointId]),
  blob: (thread: string, ns: string, channel: string, version: ChannelVersion): string =>
    `${join('blob', [thread, ns, channel])}:${encodeVersion(version)}`,
  write: (thread: string, ns: string, checkpointId: string, taskId: string, idx: number): string =>
    `${join('w', [thread, ns, checkpointId, taskId])}:${idx}`,
  head: (thread: string, ns: string): string => join('head', [thread, ns]),
  tombstone: (thread: string): string => join('tomb', [thread]),
  offset: (topic: string, partition: number): string => `${join('offset', [topic])}:${partition}`,
  /** a delta the projector found without its base (projector/missing-bases.ts) */
  brokenDelta: (thread: string, ns: string, channel: string, version: ChannelVersion): string =>
    `${join('broken', [thread, ns, channel])}:${encodeVersion(version)}`,
};

export type IdKind = 'cp' | 'blob' | 'w' | 'head' | 'offset' | 'broken';

/**
 * The `_id` range holding every document of `kind` for one thread, or one (thread, ns), or
 * one (thread, ns, checkpointId) for writes: `{ $gte: start, $lt: end }`. Encoded parts never
 * contain `:`, and `;` is the next character after it, so the range is exactly the prefix.
 */
export function idRange(kind: IdKind, ...parts: string[]): { $gte: string; $lt: string } {
  const start = `${join(kind, parts)}:`;
  return { $gte: start, $lt: `${start.slice(0, -1)};` };
}
