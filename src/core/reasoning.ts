import type { ReasoningEffort } from '../types/openai.js';

/**
 * One table between OpenAI's reasoning effort and a thinking budget in tokens (Anthropic's
 * `thinking.budget_tokens`, Gemini's `thinkingConfig.thinkingBudget`), so every direction of the
 * mapping agrees. Anthropic's minimum budget is 1024.
 */
export const EFFORT_BUDGET_TOKENS: Readonly<Record<Exclude<ReasoningEffort, 'none'>, number>> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 24576,
  xhigh: 32768,
};

export const REASONING_EFFORTS: readonly ReasoningEffort[] = [
  'none',
  'minimal',
  'low',
  'medium',
  'high',
  'xhigh',
];

/** The smallest effort whose budget covers `budget`: a client's budget never shrinks in translation. */
export function effortForBudget(budget: number): Exclude<ReasoningEffort, 'none'> {
  for (const effort of ['minimal', 'low', 'medium', 'high'] as const) {
    if (budget <= EFFORT_BUDGET_TOKENS[effort]) return effort;
  }
  return 'xhigh';
}
