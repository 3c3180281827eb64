/** A config that cannot be used. `issues` are `path: message` lines, each naming the offending key. */
export class ConfigError extends Error {
  readonly issues: string[];
  constructor(issues: string[], source: string) {
    super(`invalid config (${source}):\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
