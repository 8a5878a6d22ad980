export { ACCESS_CLOSED, ACCESS_COMPLETED, ACCESS_LOG_HEADERS, type AccessLogFields, type AccessLogOptions, createAccessLogMiddleware } from './access-log.middleware';
export { AppLogger, type AppLoggerOptions, CaptureDestination, createAppLogger, createRedactingPino, REDACT_PATHS, serializeError } from './app-logger';
export { isSensitiveName, redactJsonLine, redactSecrets, redactText, redactUrl, withoutPassword } from './redact';
export { REQUEST_ID_HEADER, REQUEST_ID_PATTERN, requestIdMiddleware, resolveRequestId } from './request-id.middleware';
export { REDACTED, registerSecret, registerSecretPattern, registerSecrets, SecretRegistry, sharedSecretRegistry } from './secret-registry';
