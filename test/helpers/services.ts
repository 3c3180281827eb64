import { inject } from 'vitest';

/**
 * Which real services are reachable, probed once by test/setup/services.ts. Tests that need one use
 * `describe.skipIf(!services.redis)`; in CI a missing service fails the run before any test starts.
 */
export const services = inject('services');
