import { ApiError } from '../errors/api-error';

export interface PresentedCredentials {
  authorization?: string | string[];
  'x-api-key'?: string | string[];
}

/**
 * `Bearer` in any case, one or more spaces or tabs, then the key (no whitespace inside);
 * surrounding whitespace is ignored (RFC 9110 allows optional whitespace around field values).
 */
const BEARER = /^[ \t]*Bearer[ \t]+([^\s]+)[ \t]*$/i;

/**
 * Reads the key from the headers. Authorization wins over X-API-Key when both are sent, so an
 * invalid Bearer is rejected even next to a valid X-API-Key. Query strings are never read.
 * (Two Authorization or two X-API-Key headers never get here: the server refuses them with 400,
 * see `ambiguousHeaderProblem` in server.ts.)
 */
export function extractPresentedKey(headers: PresentedCredentials): string | undefined {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const value = Array.isArray(authorization) ? authorization[0] : authorization;
    const match = BEARER.exec(value);
    if (!match) throw new ApiError('INVALID_API_KEY', "the Authorization header must be 'Bearer <api key>'");
    return match[1];
  }
  const apiKey = headers['x-api-key'];
  if (apiKey !== undefined) {
    const value = (Array.isArray(apiKey) ? apiKey[0] : apiKey).trim();
    return value.length > 0 ? value : undefined;
  }
  return undefined;
}
