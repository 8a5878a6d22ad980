import type { ModelProvider, ModelProviderSettings } from '../model-provider';

/**
 * The adapter for MODEL_PROVIDER. Each adapter (and its SDK) is loaded only
 * when it is the one configured: the two SDKs are ~430 of the ~1,400
 * modules the service would otherwise load at start (issue 16: start-up
 * ≤ 1 s). `require` rather than `import()`: the factory stays synchronous.
 */
export function createModelProvider(settings: ModelProviderSettings): ModelProvider {
  switch (settings.kind) {
    case 'openai-compatible': {
      const { OpenAiCompatibleProvider } = require('./openai-compatible.provider') as typeof import('./openai-compatible.provider');
      return new OpenAiCompatibleProvider(settings);
    }
    case 'anthropic': {
      const { AnthropicProvider } = require('./anthropic.provider') as typeof import('./anthropic.provider');
      return new AnthropicProvider(settings);
    }
    default: {
      const unknown: never = settings.kind;
      throw new Error(`unknown model provider kind ${String(unknown)}`);
    }
  }
}
