import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { parseDuration } from '../../src/core/units.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * deploy/ cannot be exercised here (no Docker engine, no cluster), so this test holds it to what the
 * gateway really does: the configs load with the real loader, probes and grace periods match the
 * health routes and the shutdown deadline, and every metric the dashboard and alerts query is exported.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(join(dir, e.name)) : [relative(ROOT, join(dir, e.name))],
  );
}

/** A YAML document as a tree to walk; the shape assertions below fail loudly if it is not that shape. */
type Doc = Record<string, unknown>;
const yamlDoc = (path: string) => parseYaml(read(path)) as Doc;
const at = (value: unknown, ...keys: Array<string | number>): unknown =>
  keys.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], value);

const EXPECTED_METRICS = [
  'ai_errors_total',
  'ai_first_token_latency_seconds',
  'ai_response_duration_seconds',
  'ai_tokens_consumed_total',
  'http_request_duration_seconds',
  'http_requests_total',
  'nodejs_eventloop_lag_p99_seconds',
  'process_resident_memory_bytes',
  'switchyard_config_reloads_total',
  'switchyard_overhead_seconds',
];

/** src/cli.ts exits 1 this long after the drain deadline if closing has not finished (read, so a change there fails here). */
const HARD_STOP_GRACE_S = Number(/const HARD_STOP_GRACE_MS = (\d+);/.exec(read('src/cli.ts'))?.[1]) / 1000;

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * Metric names in a PromQL expression: identifiers left after removing strings, label matchers, ranges
 * and label lists, that are neither keywords nor followed by `(` (functions, aggregations). Histogram
 * series suffixes are stripped, because the exposition's `# TYPE` line names the histogram itself.
 */
function metricNames(expr: string): string[] {
  const cleaned = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = new Set<string>();
  for (const m of cleaned.matchAll(/(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    if (PROMQL_KEYWORDS.has(word)) continue;
    if (
      cleaned
        .slice(m.index + word.length)
        .trimStart()
        .startsWith('(')
    )
      continue;
    names.add(word.replace(/_(?:bucket|count|sum)$/, ''));
  }
  return [...names].sort();
}

interface DashboardPanel {
  type: string;
  title: string;
  targets?: Array<{ expr: string }>;
}
interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}

const dashboard = () =>
  JSON.parse(read('deploy/grafana/switchyard-dashboard.json')) as { uid: string; panels: DashboardPanel[] };
const alertRules = () =>
  (yamlDoc('deploy/prometheus/alerts.yml') as { groups: Array<{ rules: AlertRule[] }> }).groups.flatMap(
    (g) => g.rules,
  );

describe('deploy/ files parse', () => {
  it('every YAML and JSON file under deploy/ is valid', () => {
    const files = listFiles(DEPLOY).sort();
    expect(files).toEqual([
      'deploy/Dockerfile',
      'deploy/docker-compose.yml',
      'deploy/grafana/switchyard-dashboard.json',
      'deploy/k8s/configmap.yaml',
      'deploy/k8s/deployment.yaml',
      'deploy/k8s/kustomization.yaml',
      'deploy/k8s/pdb.yaml',
      'deploy/k8s/secret.example.yaml',
      'deploy/k8s/service.yaml',
      'deploy/prometheus/alerts.yml',
      'deploy/switchyard.yaml',
    ]);
    for (const file of files) {
      if (file.endsWith('.json')) {
        expect(() => JSON.parse(read(file)), file).not.toThrow();
      } else if (/\.ya?ml$/.test(file)) {
        const docs = parseAllDocuments(read(file), { uniqueKeys: true });
        const list = Array.isArray(docs) ? docs : [docs];
        expect(
          list.flatMap((d) => d.errors.map((e) => e.message)),
          file,
        ).toEqual([]);
        expect(
          list.map((d) => d.toJS() === null),
          file,
        ).not.toContain(true);
      }
    }
  });

  it('the compose and Kubernetes gateway configs load with the real config loader, and agree', () => {
    const compose = parseConfig(read('deploy/switchyard.yaml'), 'compose', {});
    const configMap = yamlDoc('deploy/k8s/configmap.yaml');
    const k8s = parseConfig(String(at(configMap, 'data', 'switchyard.yaml')), 'k8s', {});
    expect({ ...k8s, source: 'compose' }).toEqual(compose);
    expect(compose.server).toMatchObject({ host: '0.0.0.0', port: 8080, shutdownTimeoutMs: 30_000 });
    expect([...compose.providers.keys()].sort()).toEqual(['anthropic', 'gemini', 'mock', 'openai']);
    expect(compose.sentry).toEqual({ dsn: undefined, environment: 'production' });
  });
});

describe('Kubernetes manifests', () => {
  const deployment = yamlDoc('deploy/k8s/deployment.yaml');
  const pod = at(deployment, 'spec', 'template', 'spec') as Doc;
  const container = at(pod, 'containers', 0) as Doc;
  const shutdownMs = parseConfig(
    String(at(yamlDoc('deploy/k8s/configmap.yaml'), 'data', 'switchyard.yaml')),
    'k8s',
    {},
  ).server.shutdownTimeoutMs;

  it('probes point at the health routes on the container port', () => {
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8080 }]);
    expect(at(container, 'livenessProbe', 'httpGet')).toEqual({ path: '/health/live', port: 'http' });
    expect(at(container, 'startupProbe', 'httpGet')).toEqual({ path: '/health/live', port: 'http' });
    expect(at(container, 'readinessProbe', 'httpGet')).toEqual({ path: '/health/ready', port: 'http' });
  });

  it('the grace period covers the preStop sleep plus the shutdown deadline', () => {
    const preStop = at(container, 'lifecycle', 'preStop', 'exec', 'command') as string[];
    expect(preStop).toEqual(['sleep', '5']);
    const grace = pod.terminationGracePeriodSeconds as number;
    expect(grace).toBe(45);
    // preStop, then the drain deadline, then the CLI's 5s hard-stop grace for closing and flushing.
    expect(grace).toBeGreaterThan(Number(preStop[1]) + shutdownMs / 1000 + HARD_STOP_GRACE_S);
  });

  it('the config map is mounted where SWITCHYARD_CONFIG points, keys come from the secret', () => {
    expect(container.env).toContainEqual({
      name: 'SWITCHYARD_CONFIG',
      value: '/etc/switchyard/switchyard.yaml',
    });
    expect(container.volumeMounts).toEqual([
      { name: 'config', mountPath: '/etc/switchyard', readOnly: true },
    ]);
    expect(pod.volumes).toEqual([{ name: 'config', configMap: { name: 'switchyard-config' } }]);
    expect(container.envFrom).toEqual([{ secretRef: { name: 'switchyard-keys' } }]);
    const secret = yamlDoc('deploy/k8s/secret.example.yaml');
    expect(at(secret, 'metadata', 'name')).toBe('switchyard-keys');
    expect(Object.values(secret.stringData as Record<string, string>)).toEqual(['', '', '', '']);
  });

  it('runs as the non-root node user; the service and PDB select the pods', () => {
    expect(at(pod, 'securityContext', 'runAsNonRoot')).toBe(true);
    expect(at(pod, 'securityContext', 'runAsUser')).toBe(1000);
    const labels = at(deployment, 'spec', 'template', 'metadata', 'labels');
    const service = yamlDoc('deploy/k8s/service.yaml');
    expect(at(service, 'spec', 'selector')).toEqual(labels);
    expect(at(service, 'spec', 'ports')).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);
    expect(at(yamlDoc('deploy/k8s/pdb.yaml'), 'spec', 'selector', 'matchLabels')).toEqual(labels);
  });

  it('kustomization applies everything but the example secret', () => {
    expect(at(yamlDoc('deploy/k8s/kustomization.yaml'), 'resources')).toEqual([
      'configmap.yaml',
      'deployment.yaml',
      'service.yaml',
      'pdb.yaml',
    ]);
  });
});

describe('docker compose', () => {
  const compose = yamlDoc('deploy/docker-compose.yml');
  const gateway = at(compose, 'services', 'gateway') as Doc;

  it('gives the gateway its shutdown deadline before SIGKILL', () => {
    const shutdownMs = parseConfig(read('deploy/switchyard.yaml'), 'compose', {}).server.shutdownTimeoutMs;
    expect(parseDuration(String(gateway.stop_grace_period))).toBe(40_000);
    expect(parseDuration(String(gateway.stop_grace_period))).toBeGreaterThan(
      shutdownMs + HARD_STOP_GRACE_S * 1000,
    );
  });

  it('mounts deploy/switchyard.yaml and wires Redis and Postgres', () => {
    expect(gateway.volumes).toEqual(['./switchyard.yaml:/etc/switchyard/switchyard.yaml:ro']);
    expect(at(gateway, 'environment', 'SWITCHYARD_CONFIG')).toBe('/etc/switchyard/switchyard.yaml');
    expect(at(gateway, 'environment', 'REDIS_URL')).toBe('redis://redis:6379/0');
    expect(at(gateway, 'environment', 'DATABASE_URL')).toBe(
      'postgres://switchyard:${POSTGRES_PASSWORD:-switchyard}@postgres:5432/switchyard',
    );
    expect(at(compose, 'services', 'redis', 'image')).toBe('redis:7-alpine');
    expect(at(compose, 'services', 'postgres', 'image')).toBe('postgres:16-alpine');
    for (const name of ['gateway', 'redis', 'postgres']) {
      expect(at(compose, 'services', name, 'healthcheck', 'test'), name).toBeInstanceOf(Array);
    }
    expect(at(gateway, 'healthcheck', 'test', 3)).toContain("'http://127.0.0.1:8080/health/ready'");
  });
});

describe('Dockerfile', () => {
  // One instruction per entry: comments dropped, backslash continuations joined, whitespace collapsed.
  const instructions = read('deploy/Dockerfile')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim().replace(/\s+/g, ' '))
    .filter(Boolean);
  const all = (keyword: string) => instructions.filter((i) => i.startsWith(`${keyword} `));

  it('builds in one stage, compiles production dependencies in another, runs them as a non-root user', () => {
    expect(all('FROM')).toEqual([
      'FROM ${NODE_IMAGE} AS build',
      'FROM ${NODE_IMAGE} AS deps',
      'FROM ${NODE_IMAGE} AS runtime',
    ]);
    expect(all('ARG')).toEqual(['ARG NODE_IMAGE=node:24-slim', 'ARG SQLITE_NODE_HEADERS=24.18.1']);
    expect(all('RUN')).toEqual([
      'RUN npm ci --ignore-scripts --no-audit --no-fund',
      'RUN npm run build',
      'RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*',
      // Compiled against headers without nodejs/node#65446 (see the regression test issue-7-node24-sqlite-gc).
      'RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm_config_build_from_source=true npm_config_target="${SQLITE_NODE_HEADERS}" npm rebuild better-sqlite3 && npm rebuild msgpackr-extract && npm cache clean --force',
    ]);
    expect(all('COPY')).toContain('COPY --from=deps /app/node_modules ./node_modules');
    expect(all('USER')).toEqual(['USER node']);
    expect(all('EXPOSE')).toEqual(['EXPOSE 8080']);
  });

  it('has a HEALTHCHECK on /health/live and starts dist/cli.js on 0.0.0.0', () => {
    const [healthcheck, ...more] = all('HEALTHCHECK');
    expect(more).toEqual([]);
    expect(healthcheck).toMatch(/ CMD \["node", "-e", ".*\/health\/live.*"\]$/);
    expect(all('CMD')).toEqual(['CMD ["node", "dist/cli.js", "start"]']);
    expect(instructions.at(-1)).toBe('CMD ["node", "dist/cli.js", "start"]');
    expect(all('ENV')).toEqual(['ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080']);
  });
});

describe('dashboard and alerts', () => {
  it('extracts metric names from PromQL', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, provider) (rate(a_seconds_bucket{route=~"/v1/.+"}[$__rate_interval]))) / on (provider) b_total > 0 unless c_count',
      ),
    ).toEqual(['a_seconds', 'b_total', 'c']);
  });

  it('the dashboard queries exactly the gateway metrics', () => {
    const d = dashboard();
    expect(d.uid).toBe('switchyard-gateway');
    const exprs = d.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.length).toBe(19);
    expect([...new Set(exprs.flatMap(metricNames))].sort()).toEqual(EXPECTED_METRICS);
  });

  it('alert rules are complete and query only gateway metrics', () => {
    const rules = alertRules();
    expect(rules.map((r) => r.alert)).toEqual([
      'SwitchyardHighErrorRate',
      'SwitchyardHighProviderLatency',
      'SwitchyardProviderDown',
      'SwitchyardHighGatewayOverhead',
      'SwitchyardConfigReloadFailed',
    ]);
    for (const r of rules) {
      expect(['warning', 'critical'], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary.length, r.alert).toBeGreaterThan(0);
      if (r.for !== undefined) expect(parseDuration(r.for), r.alert).toBeGreaterThan(0);
    }
    expect([...new Set(rules.flatMap((r) => metricNames(r.expr)))].sort()).toEqual([
      'ai_errors_total',
      'ai_response_duration_seconds',
      'http_requests_total',
      'switchyard_config_reloads_total',
      'switchyard_overhead_seconds',
    ]);
  });

  describe('every queried metric is exported by the gateway', () => {
    let gw: TestGateway;
    beforeAll(async () => {
      gw = await startGateway(`
providers:
  mock: { type: mock }
models:
  mock: { targets: [ { provider: mock, model: mock } ] }
`);
    });
    afterAll(async () => {
      await gw.close();
    });

    it('GET /metrics has a # TYPE line for each after real traffic', async () => {
      const chat = (model: string, stream: boolean) =>
        request(`${gw.baseURL}/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hi' }] }),
        });
      const plain = await chat('mock', false);
      await plain.body.text();
      expect(plain.statusCode).toBe(200);
      const streamed = await chat('mock', true);
      expect(await streamed.body.text()).toMatch(/data: \[DONE\]\n\n$/);
      expect(streamed.statusCode).toBe(200);
      const unknown = await chat('no-such-model', false);
      await unknown.body.text();
      expect(unknown.statusCode).toBe(404);

      const res = await request(`${gw.url}/metrics`);
      const exposition = await res.body.text();
      expect(res.statusCode).toBe(200);
      const queried = [
        ...new Set([
          ...dashboard()
            .panels.flatMap((p) => p.targets ?? [])
            .flatMap((t) => metricNames(t.expr)),
          ...alertRules().flatMap((r) => metricNames(r.expr)),
        ]),
      ].sort();
      expect(queried).toEqual(EXPECTED_METRICS);
      const missing = queried.filter((name) => !new RegExp(`^# TYPE ${name} `, 'm').test(exposition));
      expect(missing).toEqual([]);
    });
  });
});
