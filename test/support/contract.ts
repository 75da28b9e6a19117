import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/**
 * The OpenAPI document as a contract every e2e request is held to: each response the suites
 * provoke, success or error, must have a documented status for its route, a body that fits the
 * schema of that route and status, and the headers the document promises. A drift between the
 * server and its document fails the test that exposed it.
 */

type Json = Record<string, any>;

interface Route {
  template: string;
  pattern: RegExp;
  item: Json;
}

export interface ContractCheck {
  method: string;
  path: string;
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

/** Every (operation, status) a suite saw, for coverage checks. */
export const observed = new Map<string, Set<number>>();

const METHODS = new Set(['get', 'put', 'post', 'patch', 'delete']);

export class Contract {
  private readonly ajv: Ajv2020;
  private readonly routes: Route[];
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(readonly document: Json) {
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    addFormats(this.ajv);
    this.ajv.addSchema(document, 'openapi');
    this.routes = Object.entries<Json>(document.paths)
      .map(([template, item]) => ({
        template,
        item,
        pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
      }))
      // literal segments win over parameters (/executions/{id} vs a longer literal path)
      .sort((a, b) => b.template.replace(/\{[^}]+\}/g, '').length - a.template.replace(/\{[^}]+\}/g, '').length);
  }

  /** The documented operation for a request, or undefined for routes outside the document. */
  operation(method: string, path: string): { template: string; op: Json } | undefined {
    const pathname = path.split('?')[0];
    const m = method.toLowerCase();
    if (!METHODS.has(m)) return undefined;
    for (const route of this.routes) {
      if (route.pattern.test(pathname) && route.item[m]) return { template: route.template, op: route.item[m] };
    }
    return undefined;
  }

  /** The problems with one response; empty when it keeps the contract. */
  check(response: ContractCheck): string[] {
    const found = this.operation(response.method, response.path);
    if (!found) return [];
    const { template, op } = found;
    const where = `${response.method.toUpperCase()} ${template} → ${response.status}`;
    const key = `${response.method.toUpperCase()} ${template}`;
    if (!observed.has(key)) observed.set(key, new Set());
    observed.get(key)!.add(response.status);
    const documented = op.responses?.[String(response.status)];
    if (!documented) return [`${where}: the status is not documented (documented: ${Object.keys(op.responses ?? {}).join(', ')}); body ${response.text.slice(0, 300)}`];
    const problems: string[] = [];
    if (!response.headers.get('x-request-id')) problems.push(`${where}: no X-Request-Id header`);
    const cacheEnum = documented.headers?.['Cache-Control'] ? this.resolve(documented.headers['Cache-Control'])?.schema?.enum : undefined;
    if (cacheEnum && !cacheEnum.includes(response.headers.get('cache-control'))) {
      problems.push(`${where}: Cache-Control is ${response.headers.get('cache-control')}, documented ${cacheEnum.join('|')}`);
    }
    if (response.status === 429 && !/^[0-9]+$/.test(response.headers.get('retry-after') ?? '')) problems.push(`${where}: no integer Retry-After`);
    const content: Json | undefined = documented.content;
    if (response.text.length === 0) {
      if (content && response.status !== 204) problems.push(`${where}: empty body, documented ${Object.keys(content).join(', ')}`);
      return problems;
    }
    const type = (response.headers.get('content-type') ?? '').split(';')[0].trim();
    if (!content?.[type]) {
      problems.push(`${where}: answered ${type || 'no content type'}, documented ${content ? Object.keys(content).join(', ') : 'no body'}`);
      return problems;
    }
    if (type !== 'application/json') return problems;
    const validate = this.validator(template, response.method.toLowerCase(), String(response.status), type);
    if (!validate(response.body)) {
      problems.push(`${where}: the body does not fit the schema: ${this.ajv.errorsText(validate.errors, { separator: '; ' })}; body ${response.text.slice(0, 400)}`);
    }
    return problems;
  }

  private resolve(node: Json | undefined): Json | undefined {
    if (!node?.$ref) return node;
    const path = String(node.$ref).replace(/^#\//, '').split('/');
    let current: any = this.document;
    for (const segment of path) current = current?.[segment.replace(/~1/g, '/').replace(/~0/g, '~')];
    return current;
  }

  private validator(template: string, method: string, status: string, type: string): ValidateFunction {
    const key = `${method} ${template} ${status} ${type}`;
    let validate = this.validators.get(key);
    if (!validate) {
      const pointer = ['paths', template, method, 'responses', status, 'content', type, 'schema'].map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
      validate = this.ajv.compile({ $ref: `openapi#/${pointer}` });
      this.validators.set(key, validate);
    }
    return validate;
  }
}

const contracts = new Map<string, Promise<Contract | null>>();

/** The contract of the server at `url` (its own /api/v1/openapi.json), fetched once. */
export function contractOf(url: string): Promise<Contract | null> {
  let contract = contracts.get(url);
  if (!contract) {
    contract = fetch(`${url}/api/v1/openapi.json`)
      .then(async (res) => (res.status === 200 ? new Contract((await res.json()) as Json) : null))
      .catch(() => null);
    contracts.set(url, contract);
  }
  return contract;
}
