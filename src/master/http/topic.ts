/**
 * Event keys and subscription paths: `/`-joined segments, like Buildbot's www message keys
 * (`jobs/3/logs`). In a path, `*` matches exactly one segment and a final `**` matches
 * whatever follows (zero or more segments).
 */

/** Longest path accepted from a client, in characters (subscriptions are attacker-sized input). */
export const MAX_TOPIC_LENGTH = 512;
const MAX_SEGMENTS = 32;

/** Split a path into segments; returns undefined for an empty, oversized or malformed path. */
export function parseTopicPath(path: string): string[] | undefined {
  if (typeof path !== 'string' || path.length === 0 || path.length > MAX_TOPIC_LENGTH) return undefined;
  const segments = path.replace(/^\/+|\/+$/g, '').split('/');
  if (segments.length > MAX_SEGMENTS || segments.some((s) => s === '')) return undefined;
  const globstar = segments.indexOf('**');
  if (globstar !== -1 && globstar !== segments.length - 1) return undefined;
  return segments;
}

/** Whether the event key (segments) matches the subscription path (segments). */
export function topicMatches(pattern: readonly string[], key: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '**') return true;
    if (i >= key.length) return false;
    if (p !== '*' && p !== key[i]) return false;
  }
  return pattern.length === key.length;
}
