import { readFile } from 'node:fs/promises';
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { parseDocument } from 'yaml';
import type { GatewayConfig } from '../types/config.js';
import { ConfigError } from './config-error.js';
import { resolveConfig, zeroConfig } from './resolve.js';
import { type RawConfig, RawConfigSchema } from './schema.js';

if (!FormatRegistry.Has('uri')) {
  FormatRegistry.Set('uri', (v) => URL.canParse(v) && /^https?:/.test(v));
}

export type Env = Readonly<Record<string, string | undefined>>;

export interface LoadOptions {
  /** Path given by `--config`; falls back to env.SWITCHYARD_CONFIG; neither means zero-config mode. */
  path?: string | undefined;
  env: Env;
}

/**
 * The only place that reads process-level configuration. Everything below it receives a GatewayConfig.
 */
export async function loadConfig(opts: LoadOptions): Promise<GatewayConfig> {
  const path = opts.path ?? opts.env.SWITCHYARD_CONFIG;
  if (!path) return zeroConfig(opts.env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read config file: ${(err as Error).message}`], path);
  }
  return parseConfig(text, path, opts.env);
}

export function parseConfig(text: string, source: string, env: Env): GatewayConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`),
      source,
    );
  }
  const parsed: unknown = doc.toJS() ?? {};
  const issues: string[] = [];
  const interpolated = interpolate(parsed, [], env, issues);
  if (issues.length > 0) throw new ConfigError(issues, source);
  const errors = [...Value.Errors(RawConfigSchema, interpolated)];
  if (errors.length > 0) throw new ConfigError(dedupe(errors.map(describe)), source);
  return resolveConfig(interpolated as RawConfig, source, env);
}

const VAR_RE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * `${VAR}` and `${VAR:-default}` inside string values; `$${` is a literal `${`. Interpolating values
 * rather than the raw text means a secret containing YAML syntax cannot change the document's shape.
 */
function interpolate(value: unknown, path: string[], env: Env, issues: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR_RE, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$${') return '${';
      const v = env[name!];
      // Shell semantics: `:-` also replaces an empty value.
      if (v !== undefined && (fallback === undefined || v !== '')) return v;
      if (fallback !== undefined) return fallback;
      issues.push(`${dotted(path)}: environment variable ${name} is not set (write \${${name}:-default} to allow that)`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...path, String(i)], env, issues));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, [...path, k], env, issues);
    return out;
  }
  return value;
}

function dotted(path: readonly string[]): string {
  return path.length === 0 ? '(root)' : path.join('.');
}

function describe(e: ValueError): string {
  const path = dotted(e.path.split('/').filter(Boolean));
  return `${path}: ${messageFor(e)}`;
}

function messageFor(e: ValueError): string {
  const schema = e.schema as TSchema & { anyOf?: TSchema[]; format?: string; description?: string };
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return 'unknown key';
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.StringFormat:
      return schema.format === 'uri' ? 'must be a URL (http:// or https://)' : `must match format ${schema.format}`;
    case ValueErrorType.StringPattern:
      return 'must be lowercase letters, digits, "-" or "_"';
    case ValueErrorType.Union: {
      const consts = schema.anyOf?.map((s) => s.const).filter((c) => c !== undefined);
      if (consts && consts.length === schema.anyOf?.length) return `must be one of ${consts.join(', ')}`;
      return `must be a ${schema.description ?? 'valid value'}`;
    }
    default:
      return e.message.replace(/^Expected/, 'must be').toLowerCase();
  }
}

function dedupe(lines: string[]): string[] {
  return [...new Set(lines)];
}
