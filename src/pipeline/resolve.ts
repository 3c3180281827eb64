import type { RequestContext } from './context.js';
import { isStreamOperation } from './context.js';

/** The resolve stage: the public model (or `provider/model`) to its route, from the request's snapshot. */
export function resolveStage(ctx: RequestContext): void {
  const model = (ctx.body as { model: string }).model;
  const span = ctx.span.child('resolve', 'internal', { 'switchyard.model': model });
  try {
    const route = ctx.runtime.resolve(model);
    ctx.route = route;
    const m = ctx.meta;
    m.model = route.model;
    m.stream = isStreamOperation(ctx.operation);
    if (ctx.runtime.config.logging.logPrompts && 'messages' in ctx.body) m.prompt = ctx.body.messages;
  } catch (err) {
    span.fail(err);
    throw err;
  } finally {
    span.end();
  }
}
