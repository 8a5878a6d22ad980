import type { ChatMessage } from '../model-provider';

/** What the Messages API takes: a top-level system prompt and strictly alternating turns starting with the user. */
export interface AnthropicConversation {
  system: string | undefined;
  messages: { role: 'user' | 'assistant'; content: string }[];
}

/**
 * Marks a `system` message that appears inside the conversation (a `system`
 * input to the worker) once it is folded into a user turn: the Messages API
 * has no system role there, and the model should still tell it from the
 * user's own words.
 */
export const FOLDED_SYSTEM_MARKER = '[system note]';

/**
 * Reshapes a chat (system prompt first, then the conversation) for the
 * Messages API, which rejects what chat-completions servers accept:
 * - the leading `system` messages become `system`;
 * - a later `system` message becomes user text behind FOLDED_SYSTEM_MARKER;
 * - consecutive turns of one role are merged (blank line between them);
 * - assistant turns before the first user turn are dropped (the first turn must be the user's);
 * - blank messages are dropped (the API rejects empty text blocks).
 */
export function toAnthropicConversation(messages: readonly ChatMessage[]): AnthropicConversation {
  const system: string[] = [];
  const turns: AnthropicConversation['messages'] = [];
  let conversationStarted = false;
  for (const message of messages) {
    if (message.content.trim() === '') continue;
    if (message.role === 'system' && !conversationStarted) {
      system.push(message.content);
      continue;
    }
    conversationStarted = true;
    const role = message.role === 'assistant' ? 'assistant' : 'user';
    const content = message.role === 'system' ? `${FOLDED_SYSTEM_MARKER}\n${message.content}` : message.content;
    if (role === 'assistant' && turns.length === 0) continue;
    const last = turns[turns.length - 1];
    if (last && last.role === role) last.content = `${last.content}\n\n${content}`;
    else turns.push({ role, content });
  }
  return { system: system.length ? system.join('\n\n') : undefined, messages: turns };
}
