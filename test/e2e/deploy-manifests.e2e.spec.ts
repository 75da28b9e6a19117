/**
 * deploy/ agrees with the app (issue 9, §3): the Kubernetes manifests and the Dockerfile are
 * parsed, and every number or name they share with the server is checked against the server's
 * own configuration loader, its defaults and a live server: probe paths, ports, the shutdown
 * budget, the environment variables, the image's command.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticKeyProblems } from '../../src/common/auth/static-keys';
import type { AppConfig } from '../../src/common/config/config.schema';
import { ConfigError, loadConfig } from '../../src/common/config/load-config';
import { SHUTDOWN_MARGIN_MS } from '../../src/server';
import { startTestServer, tempDir, type TestServer } from '../support/server';

const ROOT = join(__dirname, '..', '..');
const K8S = join(ROOT, 'deploy', 'kubernetes');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; scripts: Record<string, string> };

/** manifests are untyped YAML */
type Doc = Record<string, any>;

function manifests(): Doc[] {
  const docs: Doc[] = [];
  for (const file of readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
    for (const doc of loadAll(readFileSync(join(K8S, file), 'utf8'))) if (doc) docs.push({ ...(doc as Doc), __file: file });
  }
  return docs;
}

const docs = manifests();
const one = (kind: string): Doc => {
  const found = docs.filter((d) => d.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0];
};
const deployment = one('Deployment');
const pod = deployment.spec.template;
const container = pod.spec.containers[0];
const configMap = one('ConfigMap');
const secret = one('Secret');
const defaults = loadConfig({ env: {}, cwd: tempDir() });

/** The container's environment as the kubelet would set it (Secret and ConfigMap refs resolved). */
function containerEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env as Doc[]) {
    if (entry.value !== undefined) env[entry.name] = String(entry.value);
    else if (entry.valueFrom?.secretKeyRef) {
      expect(entry.valueFrom.secretKeyRef.name).toBe(secret.metadata.name);
      env[entry.name] = secret.stringData[entry.valueFrom.secretKeyRef.key];
      expect(env[entry.name], `${entry.name} from the Secret`).toBeTypeOf('string');
    } else throw new Error(`unexpected env entry ${JSON.stringify(entry)}`);
  }
  return env;
}

/**
 * The configuration a replica runs with: the ConfigMap's file where the Deployment mounts it,
 * and the container's environment, through the server's own loader (so it is also validated).
 */
function effectiveConfig(env: Record<string, string>): AppConfig {
  const dir = tempDir('autokestra-k8s-');
  const mount = (container.volumeMounts as Doc[]).find((m) => pod.spec.volumes.find((v: Doc) => v.name === m.name)?.configMap?.name === configMap.metadata.name)!;
  expect(mount, 'the ConfigMap is mounted').toBeDefined();
  const file = env.AUTOKESTRA_CONFIG;
  expect(file.startsWith(`${mount.mountPath}/`), 'AUTOKESTRA_CONFIG points into the ConfigMap mount').toBe(true);
  const key = file.slice(mount.mountPath.length + 1);
  expect(configMap.data[key], `ConfigMap key ${key}`).toBeTypeOf('string');
  writeFileSync(join(dir, key), configMap.data[key]);
  return loadConfig({ env: { ...env, AUTOKESTRA_CONFIG: join(dir, key) }, cwd: dir });
}

const env = containerEnv();
const config = effectiveConfig(env);
const portNamed = (name: string) => (container.ports as Doc[]).find((p) => p.name === name)?.containerPort as number;

describe('Kubernetes manifests agree with the app', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('kustomization lists every manifest; the image tag is the package version', () => {
    const kustomization = loadAll(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8'))[0] as Doc;
    expect([...kustomization.resources].sort()).toEqual([...new Set(docs.map((d) => d.__file))].sort());
    expect(container.image).toBe(`autokestra:${PACKAGE.version}`);
    expect(kustomization.images).toEqual([{ name: 'autokestra', newTag: PACKAGE.version }]);
  });

  it('3 replicas; the rolling update never goes below them; the PDB lets one go at a time', () => {
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    const pdb = one('PodDisruptionBudget');
    expect(pdb.spec.maxUnavailable).toBe(1);
    const labels = pod.metadata.labels;
    for (const selector of [deployment.spec.selector.matchLabels, pdb.spec.selector.matchLabels, one('Service').spec.selector]) {
      for (const [k, v] of Object.entries(selector)) expect(labels[k], k).toBe(v);
    }
  });

  it('the API port is the configured server.port (default 8080), and the Service targets it', () => {
    expect(defaults.server.port).toBe(8080);
    expect(config.server.port).toBe(defaults.server.port);
    expect(portNamed('http')).toBe(config.server.port);
    expect(config.server.host).toBe('0.0.0.0');
    const service = one('Service');
    expect(service.spec.ports).toHaveLength(1);
    expect(service.spec.ports[0].targetPort).toBe('http');
  });

  it('metrics are on, on metrics.port (default 9464), with scrape annotations that match', () => {
    expect(defaults.metrics.enabled).toBe(false);
    expect(defaults.metrics.port).toBe(9464);
    expect(config.metrics.enabled).toBe(true);
    expect(config.metrics.port).toBe(defaults.metrics.port);
    expect(config.metrics.host).toBe('0.0.0.0');
    expect(portNamed('metrics')).toBe(config.metrics.port);
    expect(portNamed('metrics')).not.toBe(portNamed('http'));
    const annotations = pod.metadata.annotations;
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(Number(annotations['prometheus.io/port'])).toBe(config.metrics.port);
    expect(annotations['prometheus.io/path']).toBe('/metrics');
  });

  it('probes: startup and liveness on /health/live, readiness on /health/ready, on the API port; they answer 200 on a live server without a key', async () => {
    expect(container.startupProbe.httpGet.path).toBe('/health/live');
    expect(container.livenessProbe.httpGet.path).toBe('/health/live');
    expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
    for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
      expect(probe.httpGet.port).toBe('http');
      const res = await server.request('GET', probe.httpGet.path, { auth: false });
      expect(res.status, `${probe.httpGet.path}: ${res.text}`).toBe(200);
      expect(res.body.status).toBe('ok');
    }
    // and they are routes of the API, public in its OpenAPI document
    const openapi = (await server.request('GET', '/api/v1/openapi.json', { auth: false })).body;
    for (const path of ['/health/live', '/health/ready']) expect(openapi.paths[path]?.get?.security, path).toEqual([]);
    // metrics never on the API port
    expect((await server.request('GET', pod.metadata.annotations['prometheus.io/path'], { auth: false })).status).toBe(404);
  });

  it('terminationGracePeriodSeconds covers preStop + drain delay + engine grace + the exit margin', () => {
    const command = container.lifecycle.preStop.exec.command as string[];
    expect(command[0]).toBe('sleep');
    const preStopMs = Number(command[1]) * 1000;
    expect(preStopMs).toBeGreaterThan(0);
    const serverBudgetMs = config.server.drainDelayMs + config.engine.shutdownGraceMs + SHUTDOWN_MARGIN_MS;
    expect(pod.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopMs + serverBudgetMs);
    // the ConfigMap's grace is meant (not the default): it is what the pod runs with
    expect(config.engine.shutdownGraceMs).toBeGreaterThanOrEqual(defaults.engine.shutdownGraceMs);
    // a lease outlives the drain, so a draining replica's executions are not taken over mid-drain
    expect(config.engine.leaseMs).toBeGreaterThan(config.engine.heartbeatMs);
  });

  it('every environment variable is one the server reads (a variable it ignored would be a silent typo)', () => {
    const notConfig = new Set(['NODE_OPTIONS']);
    const base = JSON.stringify(defaults);
    for (const name of Object.keys(env)) {
      if (notConfig.has(name)) continue;
      expect(name, name).toMatch(/^AUTOKESTRA_/);
      // a variable the loader reads either changes the configuration or is refused as invalid
      let effect: string;
      try {
        effect = JSON.stringify(loadConfig({ env: { [name]: '__probe__' }, cwd: tempDir() })) === base ? 'none' : 'changed';
      } catch (error) {
        effect = error instanceof ConfigError ? 'refused' : `threw ${String(error)}`;
      }
      expect(['changed', 'refused'], `${name}: ${effect}`).toContain(effect);
    }
    // the Secret carries the two secrets and nothing reads them from the ConfigMap
    expect(Object.keys(secret.stringData).sort()).toEqual(['AUTOKESTRA_API_KEYS', 'AUTOKESTRA_DATABASE_URL']);
    expect(configMap.data['config.yaml']).not.toMatch(/apiKeys|database/);
    expect(config.database.url.startsWith('postgresql://')).toBe(true);
  });

  it('the Secret holds placeholders that cannot work: the key is refused, the database host never resolves', () => {
    expect(config.server.apiKeys).toEqual(['REPLACE_ME']);
    expect(staticKeyProblems(config.server.apiKeys).join('\n')).toMatch(/at least 32 characters/);
    expect(new URL(config.database.url).hostname.endsWith('.invalid')).toBe(true);
  });

  it('non-root, read-only root filesystem with a writable /tmp, no privilege escalation, resources set', () => {
    expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
    expect(pod.spec.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    const tmp = (container.volumeMounts as Doc[]).find((m) => m.mountPath === '/tmp')!;
    expect(pod.spec.volumes.find((v: Doc) => v.name === tmp.name).emptyDir).toBeDefined();
    for (const key of ['cpu', 'memory']) {
      expect(container.resources.requests[key], key).toBeDefined();
      expect(container.resources.limits[key], key).toBeDefined();
    }
    // the V8 heap fits in the memory limit
    const heapMb = Number(/--max-old-space-size=(\d+)/.exec(env.NODE_OPTIONS)![1]);
    expect(heapMb).toBeLessThan(Number(/^(\d+)Mi$/.exec(container.resources.limits.memory)![1]));
  });
});

describe('deploy/Dockerfile agrees with the app', () => {
  const text = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const froms = instructions.map((l, i) => (/^FROM\s/i.test(l) ? i : -1)).filter((i) => i >= 0);
  const runtime = instructions.slice(froms.at(-1));
  const arg = (name: string) => /=(.*)$/.exec(instructions.find((l) => l.startsWith(`ARG ${name}=`))!)![1];

  it('is multi-stage; the runtime stage is slim, gets production dependencies only, and runs as the manifests user', () => {
    expect(instructions.filter((l) => /^FROM\s/i.test(l)).length).toBeGreaterThanOrEqual(3);
    expect(runtime[0]).toMatch(/^FROM \$\{NODE_RUNTIME_IMAGE\} AS runtime$/);
    expect(arg('NODE_RUNTIME_IMAGE')).toMatch(/^node:20[.\d]*-bookworm-slim$/);
    // the native module is built on the same Debian release and Node as the runtime
    expect(arg('NODE_IMAGE')).toBe(arg('NODE_RUNTIME_IMAGE').replace(/-slim$/, ''));
    expect(instructions.some((l) => /npm install --omit=dev/.test(l))).toBe(true);
    expect(runtime.some((l) => /npm install/.test(l))).toBe(false);
    expect(runtime.some((l) => /^COPY --from=deps \/src\/node_modules /.test(l))).toBe(true);
    const user = runtime.find((l) => l.startsWith('USER '))!;
    expect(user).toBe(`USER ${pod.spec.securityContext.runAsUser}:${pod.spec.securityContext.runAsGroup}`);
    expect(instructions.some((l) => /^HEALTHCHECK/i.test(l))).toBe(false);
  });

  it('runs the command `npm start` runs, exposes the API and metrics ports, and defaults to them', () => {
    const cmd = JSON.parse(runtime.find((l) => l.startsWith('CMD '))!.slice(4)) as string[];
    expect(cmd.join(' ')).toBe(PACKAGE.scripts.start);
    const exposed = runtime.find((l) => l.startsWith('EXPOSE '))!.split(/\s+/).slice(1).map(Number);
    expect(exposed).toEqual([defaults.server.port, defaults.metrics.port]);
    const envLine = runtime.filter((l) => l.startsWith('ENV ')).join(' ');
    expect(envLine).toContain(`AUTOKESTRA_PORT=${defaults.server.port}`);
    expect(envLine).toContain('NODE_ENV=production');
    // what the image sets is read by the configuration loader
    const imageEnv = Object.fromEntries([...envLine.matchAll(/(AUTOKESTRA_[A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    const loaded = loadConfig({ env: imageEnv, cwd: tempDir() });
    expect(loaded.server.port).toBe(portNamed('http'));
    expect(loaded.database.url).toBe(imageEnv.AUTOKESTRA_DATABASE_URL);
    expect(runtime.some((l) => l.startsWith(`VOLUME ["${imageEnv.AUTOKESTRA_DATABASE_URL.replace(/\/[^/]+$/, '')}"]`))).toBe(true);
  });

  it('copies only files that exist and that .dockerignore lets through; config/default.yaml reaches the image', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const sources = instructions
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(sources).toContain('config/default.yaml');
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      const top = source.split('/')[0];
      expect(ignored.includes(top) || ignored.includes(source), `${source} is excluded by .dockerignore`).toBe(false);
    }
    for (const excluded of ['node_modules', '.git', 'dist', 'config.yaml', '*.db']) expect(ignored, excluded).toContain(excluded);
  });
});
