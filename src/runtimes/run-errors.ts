import { PROVIDER_ERROR_MESSAGES } from '../execution/model-provider';

/**
 * Every `error.code` a run can end with, and its fixed message. Provider
 * failures (SPEC §9) come first; the rest are this backend's own. Messages
 * never carry anything from the provider or the cause.
 */
export const RUN_ERROR_MESSAGES: Readonly<Record<string, string>> = {
  ...PROVIDER_ERROR_MESSAGES,
  run_interrupted: 'The run was interrupted: the backend instance executing it stopped before it finished',
  output_too_long: 'The reply exceeded the largest reply this backend keeps (RUN_MAX_OUTPUT_CHARS)',
  store_full: "The store was full (SQLITE_MAX_MB or the disk): the reply could not be kept whole; what was stored of it is in the run's message.delta events",
  internal_error: 'The run failed inside the backend',
};

export function runErrorMessage(code: string): string {
  return RUN_ERROR_MESSAGES[code] ?? RUN_ERROR_MESSAGES.internal_error;
}
