/**
 * SSRF defence for the `http` task: an address policy (allow/deny CIDRs on top of a default deny
 * list) and a DNS `lookup` that applies it to the addresses the socket will actually connect to.
 *
 * Default deny list (overridable per CIDR with `engine.tasks.http.allowCidrs`):
 *   - loopback              127.0.0.0/8, ::1/128
 *   - link-local            169.254.0.0/16, fe80::/10
 *   - unspecified           0.0.0.0/8, ::/128
 *   - cloud metadata        169.254.169.254 (AWS, GCP, Azure IMDS, DigitalOcean, OpenStack, OCI, …),
 *                           fd00:ec2::254 (AWS IMDS over IPv6), fd20:ce::254 (GCP metadata over IPv6),
 *                           100.100.100.200 (Alibaba Cloud), 192.0.0.192 (Oracle Cloud legacy),
 *                           168.63.129.16 (Azure WireServer)
 * Each rule also applies to the IPv4 address embedded in IPv4-mapped (::ffff:a.b.c.d),
 * IPv4-compatible (::a.b.c.d), SIIT (::ffff:0:a.b.c.d) and NAT64 well-known-prefix
 * (64:ff9b::a.b.c.d) IPv6 addresses, so `::ffff:127.0.0.1` is loopback like `127.0.0.1`.
 * Private networks (10/8, 172.16/12, 192.168/16, fc00::/7) are NOT denied by default: calling
 * internal services is a normal use; add them to `engine.tasks.http.denyCidrs` to forbid it.
 *
 * Precedence: denyCidrs > allowCidrs > default deny list > allowed.
 */
import * as dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { TaskFailure } from './task-type';

type Address = ReturnType<typeof ipaddr.parse>;
type Cidr = [Address, number];

export type AddressCheck = { allowed: true } | { allowed: false; reason: string; explicit: boolean };

interface Rule {
  cidr: Cidr;
  /** the entry as written (config) or the rule's description (defaults) */
  label: string;
}

/** Most specific first, so the reason names the metadata service rather than "link-local". */
const DEFAULT_DENY: ReadonlyArray<readonly [string, string]> = [
  ['169.254.169.254/32', 'cloud metadata address'],
  ['fd00:ec2::254/128', 'cloud metadata address'],
  ['fd20:ce::254/128', 'cloud metadata address'],
  ['100.100.100.200/32', 'cloud metadata address'],
  ['192.0.0.192/32', 'cloud metadata address'],
  ['168.63.129.16/32', 'cloud metadata address'],
  ['127.0.0.0/8', 'loopback address'],
  ['::1/128', 'loopback address'],
  ['169.254.0.0/16', 'link-local address'],
  ['fe80::/10', 'link-local address'],
  ['0.0.0.0/8', 'unspecified address'],
  ['::/128', 'unspecified address'],
];

/** The IPv6 prefixes (all /96) whose last 32 bits embed an IPv4 address. */
const EMBEDDING_PREFIXES: ReadonlyArray<readonly [Cidr, string]> = [
  [ipaddr.parseCIDR('::ffff:0:0/96'), 'IPv4-mapped'],
  [ipaddr.parseCIDR('::ffff:0:0:0/96'), 'SIIT-translated'],
  [ipaddr.parseCIDR('64:ff9b::/96'), 'NAT64'],
  [ipaddr.parseCIDR('::/96'), 'IPv4-compatible'],
];

/** Parses `a.b.c.d/n`, `x::y/n` or a bare address (a host route). Throws on anything else. */
function parseCidrEntry(entry: string, listName: string): Cidr {
  const text = typeof entry === 'string' ? entry.trim() : '';
  let cidr: Cidr;
  try {
    if (text.includes('/')) {
      cidr = ipaddr.parseCIDR(text);
    } else {
      const addr = ipaddr.parse(text);
      cidr = [addr, addr.kind() === 'ipv4' ? 32 : 128];
    }
    // strict forms only: ipaddr.parse also accepts inet_aton oddities such as "127.1"
    const [addr] = cidr;
    if (addr.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(text.split('/')[0]!)) {
      throw new Error('not a dotted-quad address');
    }
  } catch {
    throw new Error(`invalid CIDR in engine.tasks.http.${listName}: ${JSON.stringify(entry)}`);
  }
  // an IPv4-mapped IPv6 range means the IPv4 range: normalize so both notations match
  const [addr, bits] = cidr;
  if (addr.kind() === 'ipv6' && bits >= 96 && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    return [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return cidr;
}

function matches(addr: Address, cidr: Cidr): boolean {
  return addr.kind() === cidr[0].kind() && addr.match(cidr);
}

interface View {
  addr: Address;
  /** how the address was derived from the checked one, e.g. "IPv4-mapped" */
  via: string | null;
}

/** The address itself, plus the IPv4 address it embeds when it is one of the IPv4-in-IPv6 forms. */
function viewsOf(addr: Address): View[] {
  const views: View[] = [{ addr, via: null }];
  if (addr.kind() === 'ipv6') {
    const v6 = addr as ipaddr.IPv6;
    for (const [prefix, via] of EMBEDDING_PREFIXES) {
      if (v6.match(prefix)) {
        const bytes = v6.toByteArray().slice(12);
        views.push({ addr: ipaddr.fromByteArray(bytes), via });
        break;
      }
    }
  }
  return views;
}

export class AddressPolicy {
  private readonly allow: Rule[];
  private readonly deny: Rule[];
  private readonly defaults: Rule[];

  constructor(opts: { allowCidrs: readonly string[]; denyCidrs: readonly string[] }) {
    this.allow = (opts.allowCidrs ?? []).map((e) => ({ cidr: parseCidrEntry(e, 'allowCidrs'), label: e }));
    this.deny = (opts.denyCidrs ?? []).map((e) => ({ cidr: parseCidrEntry(e, 'denyCidrs'), label: e }));
    this.defaults = DEFAULT_DENY.map(([c, label]) => ({ cidr: ipaddr.parseCIDR(c), label }));
  }

  check(ip: string): AddressCheck {
    let addr: Address;
    try {
      addr = ipaddr.parse(String(ip).replace(/^\[(.*)\]$/, '$1'));
    } catch {
      return { allowed: false, reason: 'not a valid IP address', explicit: false };
    }
    const views = viewsOf(addr);
    for (const rule of this.deny) {
      for (const v of views) {
        if (matches(v.addr, rule.cidr)) {
          return {
            allowed: false,
            reason: `listed in engine.tasks.http.denyCidrs: ${rule.label}`,
            explicit: true,
          };
        }
      }
    }
    for (const rule of this.allow) {
      if (views.some((v) => matches(v.addr, rule.cidr))) return { allowed: true };
    }
    for (const rule of this.defaults) {
      for (const v of views) {
        if (matches(v.addr, rule.cidr)) {
          const reason = v.via ? `${rule.label}, ${v.via} ${v.addr.toString()}` : rule.label;
          return { allowed: false, reason, explicit: false };
        }
      }
    }
    return { allowed: true };
  }
}

/** A denied destination; the http task reports it as kind SSRF_DENIED. */
export class SsrfDeniedError extends TaskFailure {
  constructor(message: string) {
    super(message, 'SSRF_DENIED');
    this.name = 'SsrfDeniedError';
  }
}

function deniedMessage(what: string, check: { reason: string; explicit: boolean }): string {
  const hint = check.explicit ? '' : '; allow it with engine.tasks.http.allowCidrs';
  return `SSRF protection: ${what} (${check.reason})${hint}`;
}

/**
 * Checks a URL hostname that is an IP literal (`[...]` allowed): Node connects to those without
 * calling `lookup`, so they must be checked before connecting. Returns the bare address, or null
 * when the hostname is not an IP literal; throws SsrfDeniedError when the address is denied.
 */
export function checkLiteralHost(policy: AddressPolicy, hostname: string): string | null {
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) === 0) return null;
  const result = policy.check(host);
  if (!result.allowed) throw new SsrfDeniedError(deniedMessage(`address ${host} is denied`, result));
  return host;
}

/**
 * A `lookup` for `http.request({lookup})` / `net.connect({lookup})`: resolves every address of
 * the host, fails with SsrfDeniedError if ANY of them is denied, and hands the socket only
 * addresses that were checked — so there is no window for DNS rebinding between check and connect.
 * With `all: true` (Node's happy-eyeballs path) it returns all the (checked) addresses; otherwise
 * the first one.
 */
export function createGuardedLookup(policy: AddressPolicy): LookupFunction {
  return ((hostname: string, options: dns.LookupOptions | ((...args: any[]) => void), callback?: (...args: any[]) => void) => {
    let opts: dns.LookupOptions = {};
    let cb = callback;
    if (typeof options === 'function') cb = options;
    else if (options) opts = options;
    const done = cb!;
    dns.lookup(hostname, { family: opts.family ?? 0, hints: opts.hints, all: true }, (err, addresses) => {
      if (err) return done(err);
      if (!addresses || addresses.length === 0) {
        const notFound = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
          code: 'ENOTFOUND',
          hostname,
        });
        return done(notFound);
      }
      for (const a of addresses) {
        const result = policy.check(a.address);
        if (!result.allowed) {
          return done(new SsrfDeniedError(deniedMessage(`${hostname} resolves to ${a.address}`, result)));
        }
      }
      if (opts.all) return done(null, addresses);
      return done(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as LookupFunction;
}
