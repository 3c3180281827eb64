import { createRequire } from 'node:module';

/** The package version, read once; the same relative path works from src/ (tsx) and dist/. */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string })
  .version;
