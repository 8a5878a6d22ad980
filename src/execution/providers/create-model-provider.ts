import type { ModelProvider, ModelProviderSettings } from '../model-provider';
import { AnthropicProvider } from './anthropic.provider';
import { OpenAiCompatibleProvider } from './openai-compatible.provider';

/** The adapter for MODEL_PROVIDER. */
export function createModelProvider(settings: ModelProviderSettings): ModelProvider {
  switch (settings.kind) {
    case 'openai-compatible':
      return new OpenAiCompatibleProvider(settings);
    case 'anthropic':
      return new AnthropicProvider(settings);
    default: {
      const unknown: never = settings.kind;
      throw new Error(`unknown model provider kind ${String(unknown)}`);
    }
  }
}
