import { FOLDED_SYSTEM_MARKER, toAnthropicConversation } from './anthropic-conversation';

describe('toAnthropicConversation', () => {
  it('moves the leading system prompt to `system` and keeps an alternating conversation as is', () => {
    expect(
      toAnthropicConversation([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
        { role: 'user', content: 'bye' },
      ]),
    ).toEqual({
      system: 'Be brief.',
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
        { role: 'user', content: 'bye' },
      ],
    });
  });

  it('joins several leading system messages', () => {
    expect(
      toAnthropicConversation([
        { role: 'system', content: 'one' },
        { role: 'system', content: 'two' },
        { role: 'user', content: 'q' },
      ]).system,
    ).toBe('one\n\ntwo');
  });

  it('has no `system` when there is no leading system message', () => {
    expect(toAnthropicConversation([{ role: 'user', content: 'q' }]).system).toBeUndefined();
  });

  it('merges consecutive turns of one role', () => {
    expect(
      toAnthropicConversation([
        { role: 'user', content: 'a' },
        { role: 'user', content: 'b' },
        { role: 'assistant', content: 'c' },
        { role: 'assistant', content: 'd' },
        { role: 'user', content: 'e' },
      ]).messages,
    ).toEqual([
      { role: 'user', content: 'a\n\nb' },
      { role: 'assistant', content: 'c\n\nd' },
      { role: 'user', content: 'e' },
    ]);
  });

  it('folds a system message inside the conversation into the user turn, marked', () => {
    expect(
      toAnthropicConversation([
        { role: 'system', content: 'prompt' },
        { role: 'user', content: 'q1' },
        { role: 'assistant', content: 'a1' },
        { role: 'system', content: 'context' },
        { role: 'user', content: 'q2' },
      ]).messages,
    ).toEqual([
      { role: 'user', content: 'q1' },
      { role: 'assistant', content: 'a1' },
      { role: 'user', content: `${FOLDED_SYSTEM_MARKER}\ncontext\n\nq2` },
    ]);
  });

  it('drops assistant turns before the first user turn', () => {
    expect(
      toAnthropicConversation([
        { role: 'system', content: 'prompt' },
        { role: 'assistant', content: 'left over' },
        { role: 'assistant', content: 'also' },
        { role: 'user', content: 'q' },
      ]),
    ).toEqual({ system: 'prompt', messages: [{ role: 'user', content: 'q' }] });
  });

  it('drops blank messages, which the API rejects', () => {
    expect(
      toAnthropicConversation([
        { role: 'user', content: 'q' },
        { role: 'assistant', content: '  ' },
        { role: 'user', content: 'again' },
      ]).messages,
    ).toEqual([{ role: 'user', content: 'q\n\nagain' }]);
  });

  it('yields no turn for a conversation without a user or system-after-start message', () => {
    expect(toAnthropicConversation([{ role: 'system', content: 'p' }]).messages).toEqual([]);
  });
});
