import { readFile } from 'node:fs/promises';
import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { parseDocument } from 'yaml';
import type { GatewayConfig } from '../types/config.js';
import { ConfigError } from './config-error.js';
import type { Env } from './env.js';
import { resolveConfig, zeroConfig } from './resolve.js';
import { type RawConfig, RawConfigSchema } from './schema.js';

export type { Env } from './env.js';

if (!FormatRegistry.Has('uri')) {
  FormatRegistry.Set('uri', (v) => URL.canParse(v) && /^https?:/.test(v));
}

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
  const { text: masked, refs } = maskReferences(text);
  const doc = parseDocument(masked, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`),
      source,
    );
  }
  const parsed: unknown = doc.toJS() ?? {};
  const issues: string[] = [];
  const interpolated = interpolate(parsed, [], refs, env, issues);
  if (issues.length > 0) throw new ConfigError(issues, source);
  const errors = [...Value.Errors(RawConfigSchema, interpolated)];
  if (errors.length > 0) throw new ConfigError(dedupe(errors.map(describe)), source);
  return resolveConfig(interpolated as RawConfig, source, env);
}

/** `${VAR}` or `${VAR:-default}`, or a literal `$${`. */
type Ref = { literal: true } | { literal: false; name: string; fallback: string | undefined };

const VAR_RE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const PLACEHOLDER_RE = /__SWITCHYARD_REF_(\d+)__/g;
const WHOLE_PLACEHOLDER_RE = /^__SWITCHYARD_REF_(\d+)__$/;

/**
 * References are swapped for YAML-safe placeholders before parsing, so `api_key: ${KEY}` works inside
 * flow mappings (`{ ... }`, where a bare `${` is YAML syntax) and a secret containing YAML syntax can
 * never change the document's shape. Values are substituted after parsing, per path.
 */
function maskReferences(text: string): { text: string; refs: Ref[] } {
  const refs: Ref[] = [];
  const masked = text.replace(VAR_RE, (match, name: string | undefined, fallback: string | undefined) => {
    refs.push(match === '$${' ? { literal: true } : { literal: false, name: name!, fallback });
    return `__SWITCHYARD_REF_${refs.length - 1}__`;
  });
  return { text: masked, refs };
}

function interpolate(value: unknown, path: string[], refs: Ref[], env: Env, issues: string[]): unknown {
  if (typeof value === 'string') {
    const resolveRef = (index: string): string => {
      const ref = refs[Number(index)]!;
      if (ref.literal) return '${';
      const v = env[ref.name];
      // Shell semantics: `:-` also replaces an empty value.
      if (v !== undefined && (ref.fallback === undefined || v !== '')) return v;
      if (ref.fallback !== undefined) return ref.fallback;
      issues.push(
        `${dotted(path)}: environment variable ${ref.name} is not set (write \${${ref.name}:-default} to allow that)`,
      );
      return '';
    };
    const whole = WHOLE_PLACEHOLDER_RE.exec(value);
    if (whole && !refs[Number(whole[1])]!.literal) {
      // A value that is one reference keeps YAML's scalar typing: `port: ${PORT:-8080}` is a number.
      return typeScalar(resolveRef(whole[1]!));
    }
    return value.replace(PLACEHOLDER_RE, (_m, i: string) => resolveRef(i));
  }
  if (Array.isArray(value))
    return value.map((v, i) => interpolate(v, [...path, String(i)], refs, env, issues));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, [...path, k], refs, env, issues);
    return out;
  }
  return value;
}

function typeScalar(v: string): string | number | boolean {
  if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  if (v === 'true' || v === 'false') return v === 'true';
  return v;
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
      return schema.format === 'uri'
        ? 'must be a URL (http:// or https://)'
        : `must match format ${schema.format}`;
    case ValueErrorType.StringPattern:
      return 'must be lowercase letters, digits, "-" or "_"';
    case ValueErrorType.Union: {
      const consts = schema.anyOf?.map((s) => s.const).filter((c) => c !== undefined);
      if (consts && consts.length === schema.anyOf?.length) return `must be one of ${consts.join(', ')}`;
      return `must be a ${schema.description ?? 'valid value'}`;
    }
    case ValueErrorType.Integer:
      return 'must be an integer';
    case ValueErrorType.Number:
      return 'must be a number';
    case ValueErrorType.String:
      return 'must be a string';
    case ValueErrorType.Boolean:
      return 'must be true or false';
    case ValueErrorType.Object:
      return 'must be a mapping';
    case ValueErrorType.Array:
      return 'must be a list';
    case ValueErrorType.ArrayMinItems:
      return `must have at least ${(schema as { minItems?: number }).minItems} item(s)`;
    case ValueErrorType.StringMinLength:
      return 'must not be empty';
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${(schema as { minimum?: number }).minimum}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${(schema as { maximum?: number }).maximum}`;
    default:
      return e.message.replace(/^Expected/, 'must be').toLowerCase();
  }
}

function dedupe(lines: string[]): string[] {
  return [...new Set(lines)];
}
