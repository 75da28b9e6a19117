/**
 * DNS-rebinding defence for `/mcp` (MCP transports spec, "Security Warning"): a web page the user
 * visits may point its own host name at 127.0.0.1 and have the browser post to a local server.
 * The browser then sends that page's Origin and Host; an agent (not a browser) sends no Origin.
 *
 * - An `Origin` header that is not listed in `mcp.allowedOrigins` is refused (default: none
 *   listed, so any browser page is refused).
 * - A server listening on a loopback address accepts only loopback Host names (and those in
 *   `mcp.allowedHosts`): a rebinding page's Host is its own name.
 */

export interface McpRequestPolicyOptions {
  allowedOrigins: readonly string[];
  allowedHosts: readonly string[];
  /** the address the HTTP server listens on (config server.host) */
  listenHost: string;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** 127.0.0.0/8, ::1 and localhost: where only this machine can connect. */
export function isLoopbackAddress(host: string): boolean {
  const name = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return name === 'localhost' || name === '::1' || /^127(\.\d{1,3}){3}$/.test(name) || name === '::ffff:127.0.0.1';
}

/** `https://Example.com:443/` → `https://example.com`; garbage → null. */
export function normalizeOrigin(origin: string): string | null {
  try {
    const url = new URL(origin.trim());
    if (url.origin === 'null') return null;
    return url.origin.toLowerCase();
  } catch {
    return null;
  }
}

/** `Name:8080` → `{name: 'name', port: '8080'}`, `[::1]:3000` → `{name: '[::1]', port: '3000'}`. */
function splitHost(host: string): { name: string; port: string | null } {
  const value = host.trim().toLowerCase();
  const bracket = /^(\[[^\]]*\])(?::(\d+))?$/.exec(value);
  if (bracket) return { name: bracket[1], port: bracket[2] ?? null };
  const colon = value.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(value.slice(colon + 1))) return { name: value.slice(0, colon), port: value.slice(colon + 1) };
  return { name: value, port: null };
}

export class McpRequestPolicy {
  private readonly origins: Set<string>;
  private readonly hosts: Set<string>;
  private readonly checkHost: boolean;

  constructor(options: McpRequestPolicyOptions) {
    this.origins = new Set(options.allowedOrigins.map((o) => normalizeOrigin(o) ?? o.trim().toLowerCase()));
    this.hosts = new Set(options.allowedHosts.map((h) => h.trim().toLowerCase()));
    this.checkHost = isLoopbackAddress(options.listenHost);
  }

  /** Why the request is refused (403), or null when it may go on. */
  problem(headers: { origin?: string | string[]; host?: string | string[] }): string | null {
    const origin = Array.isArray(headers.origin) ? headers.origin[0] : headers.origin;
    if (origin !== undefined) {
      const normalized = normalizeOrigin(origin);
      if (normalized === null || !this.origins.has(normalized)) {
        return 'requests from this Origin are refused (DNS-rebinding defence); list the origin in mcp.allowedOrigins to allow it';
      }
    }
    if (this.checkHost) {
      const host = Array.isArray(headers.host) ? headers.host[0] : headers.host;
      if (host === undefined || !this.hostAllowed(host)) {
        return 'this server listens on a loopback address and accepts only a loopback Host (localhost, 127.0.0.1, [::1]) or one listed in mcp.allowedHosts';
      }
    }
    return null;
  }

  private hostAllowed(host: string): boolean {
    const value = host.trim().toLowerCase();
    if (this.hosts.has(value)) return true;
    const { name } = splitHost(value);
    return LOOPBACK_NAMES.has(name) || this.hosts.has(name);
  }
}
