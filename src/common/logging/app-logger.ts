import { format, inspect } from 'node:util';
import type { LoggerService, LogLevel } from '@nestjs/common';
import pino, { type DestinationStream, type Logger as PinoInstance } from 'pino';
import { redactJsonLine, redactText } from './redact';
import { REDACTED, SecretRegistry, sharedSecretRegistry } from './secret-registry';

/**
 * Field paths pino censors before serialising: request headers (a logged
 * `req`), `Set-Cookie`, and top-level credential fields. This is the first,
 * structural layer; every line is then redacted as a whole (`redactJsonLine`),
 * which also censors credential-named fields at ANY depth — so no `*.x`
 * wildcard paths here: each costs pino a pass over every top-level value
 * (measured: 4 wildcards double the cost of a line). Add some with
 * `AppLoggerOptions.redactPaths` if wanted.
 */
export const REDACT_PATHS: readonly string[] = [
  ...['authorization', 'cookie', 'set-cookie', 'proxy-authorization', 'x-api-key'].map((h) => `req.headers["${h}"]`),
  'res.headers["set-cookie"]',
  ...['apiKey', 'api_key', 'password', 'secret', 'token', 'accessToken', 'access_token', 'refreshToken', 'refresh_token', 'sessionToken', 'authorization', 'cookie'],
];

/** Nest levels as pino levels; `log` is pino's `info`. */
const PINO_LEVEL: Record<LogLevel, pino.Level> = {
  verbose: 'trace',
  debug: 'debug',
  log: 'info',
  warn: 'warn',
  error: 'error',
  fatal: 'fatal',
};

const ALL_LEVELS: LogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];

/** An error as it appears in a line's `err` field (every string then redacted with the line). */
export interface SerializedError {
  type: string;
  message: string;
  stack?: string;
  code?: string | number;
  cause?: SerializedError;
}

export function serializeError(err: unknown, depth = 0): SerializedError {
  if (!(err instanceof Error)) {
    return { type: err === null ? 'null' : typeof err, message: typeof err === 'string' ? err : safeJson(err) };
  }
  const out: SerializedError = {
    type: typeof err.constructor === 'function' && err.constructor.name ? err.constructor.name : err.name,
    message: String(err.message),
  };
  if (typeof err.stack === 'string') out.stack = err.stack;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (err.cause !== undefined && depth < 3) out.cause = serializeError(err.cause, depth + 1);
  return out;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A destination that keeps every line, exactly as written (minus its newline): for tests. */
export class CaptureDestination implements DestinationStream {
  readonly lines: string[] = [];
  write(chunk: string): void {
    this.lines.push(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk);
  }
}

export interface AppLoggerOptions {
  /** Where secrets are looked up; default: the shared registry (`registerSecret`). */
  registry?: SecretRegistry;
  /** Secrets to add to the registry now (e.g. `secretsOf(config)`). */
  secrets?: Iterable<string | null | undefined>;
  /** Where lines go; default: stdout, synchronously (nothing lost on exit). Any `{ write(line) }`. */
  destination?: DestinationStream;
  /** Nest levels to print; default: all. */
  logLevels?: LogLevel[];
  /** Context of lines logged without one. */
  context?: string;
  /** pino `redact` paths; default {@link REDACT_PATHS}. */
  redactPaths?: readonly string[];
}

/**
 * The pino instance behind the app logger: JSON lines
 * `{"level","time","context"?,…,"msg"}`, `err` serialised as
 * {type,message,stack[,code,cause]}, `REDACT_PATHS` censored, and every
 * line — whoever writes it, this instance or any child — redacted as a
 * whole just before it reaches the destination (the access log's lines,
 * serialised by hand, get the same pass in `AppLogger.writeLine`).
 */
export function createRedactingPino(registry: SecretRegistry, destination?: DestinationStream, redactPaths: readonly string[] = REDACT_PATHS): PinoInstance {
  return pino(
    {
      level: 'trace', // which levels print is decided by AppLogger (Nest's level sets need not be contiguous)
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: 'msg',
      errorKey: 'err',
      formatters: { level: (label) => ({ level: label }) },
      // Errors become {type,message,stack,…}; an already serialised one (see errorFromStack) passes as is.
      serializers: { err: (e: unknown) => (e instanceof Error || typeof e !== 'object' || e === null ? serializeError(e) : e) },
      redact: { paths: [...redactPaths], censor: REDACTED },
      hooks: { streamWrite: (line) => redactLineSafely(line, registry) },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

function redactLineSafely(line: string, registry: SecretRegistry): string {
  try {
    return redactJsonLine(line, registry);
  } catch {
    // Never print what could not be checked.
    return `${JSON.stringify({ level: 'error', time: new Date().toISOString(), context: 'Logger', msg: 'a log line could not be redacted and was dropped' })}\n`;
  }
}

/** `\n    at fn (file:1:2)`: a stack trace, as Nest recognises one. */
const STACK_FORMAT = /\n[ \t]+at .+:\d+:\d+/;

/**
 * The app-wide Nest logger (NestFactory `logger` option, `app.useLogger`,
 * `Logger.overrideLogger`): JSON lines through pino, every line redacted.
 * Accepts Nest's call shapes: `log(message, ...params, context?)`,
 * `error(message, stack?, context?)`.
 */
export class AppLogger implements LoggerService {
  readonly pino: PinoInstance;
  readonly registry: SecretRegistry;
  private readonly destination: DestinationStream;
  private enabled: Set<LogLevel>;
  private readonly defaultContext?: string;

  constructor(options: AppLoggerOptions = {}) {
    this.registry = options.registry ?? sharedSecretRegistry;
    if (options.secrets) this.registry.addAll(options.secrets);
    this.destination = options.destination ?? pino.destination({ dest: 1, sync: true });
    this.pino = createRedactingPino(this.registry, this.destination, options.redactPaths);
    this.enabled = new Set(options.logLevels ?? ALL_LEVELS);
    this.defaultContext = options.context;
  }

  /** Adds a secret to this logger's registry (the shared one by default). */
  registerSecret(value: string | null | undefined): void {
    this.registry.add(value);
  }

  registerSecrets(values: Iterable<string | null | undefined>): void {
    this.registry.addAll(values);
  }

  /** Text redacted exactly as a line's strings are. */
  redact(text: string): string {
    return redactText(text, this.registry);
  }

  setLogLevels(levels: LogLevel[]): void {
    this.enabled = new Set(levels);
  }

  isLevelEnabled(level: LogLevel): boolean {
    return this.enabled.has(level);
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('log', message, params, false);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params, true);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params, false);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params, false);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('verbose', message, params, false);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params, true);
  }

  flush(): void {
    this.pino.flush();
  }

  /**
   * Writes a line its caller serialised (one JSON object, no newline): for a
   * hot path with a fixed shape, the access log's, where pino's generic
   * serialisation cost more than the rest of the request's logging. The line
   * is redacted as a whole, exactly as pino's lines are, and goes to the
   * same destination. The caller checks `isLevelEnabled` first.
   */
  writeLine(line: string): void {
    this.destination.write(redactLineSafely(`${line}\n`, this.registry));
  }

  private write(level: LogLevel, message: unknown, params: unknown[], mayHaveStack: boolean): void {
    if (!this.enabled.has(level)) return;
    let rest = params;
    let context = this.defaultContext;
    let stack: string | undefined;
    if (mayHaveStack && rest.length === 1 && (rest[0] === undefined || isStack(rest[0]))) {
      // error(message, stack)
      stack = rest[0] as string | undefined;
      rest = [];
    } else if (rest.length > 0 && typeof rest[rest.length - 1] === 'string') {
      context = rest[rest.length - 1] as string;
      rest = rest.slice(0, -1);
      // error(message, stack, context): Nest's Logger passes `undefined` when there is no stack.
      if (mayHaveStack && rest.length > 0 && (rest[rest.length - 1] === undefined || isStack(rest[rest.length - 1]))) {
        stack = rest[rest.length - 1] as string | undefined;
        rest = rest.slice(0, -1);
      }
    }

    const entry: { context?: string; err?: unknown } = {};
    if (context !== undefined) entry.context = context;
    let msg: string;
    if (message instanceof Error) {
      entry.err = message;
      msg = message.message;
    } else if (typeof message === 'string') {
      msg = message;
      if (stack === undefined && isStack(message)) {
        // A stack trace passed as the message (e.g. `logger.error(err.stack)`): its first line is the message.
        stack = message;
        msg = message.slice(0, message.indexOf('\n'));
      }
    } else {
      msg = typeof message === 'object' && message !== null ? safeJson(message) : String(message);
    }
    if (stack !== undefined && entry.err === undefined) entry.err = errorFromStack(stack, msg);
    for (const extra of rest) {
      if (extra === undefined) continue;
      msg += ` ${typeof extra === 'string' ? extra : extra instanceof Error ? extra.message : safeJson(extra)}`;
    }
    this.pino[PINO_LEVEL[level]](entry, msg);
  }
}

function isStack(value: unknown): value is string {
  return typeof value === 'string' && STACK_FORMAT.test(value);
}

function errorFromStack(stack: string, fallbackMessage: string): SerializedError {
  const firstLine = stack.slice(0, stack.indexOf('\n') < 0 ? stack.length : stack.indexOf('\n'));
  const head = /^([A-Za-z_$][\w$]*): ?(.*)$/.exec(firstLine);
  return head ? { type: head[1], message: head[2], stack } : { type: 'Error', message: fallbackMessage, stack };
}

/** The app logger: `new AppLogger(options)`. */
export function createAppLogger(options: AppLoggerOptions = {}): AppLogger {
  return new AppLogger(options);
}

/**
 * Sends what libraries print with `console` through `logger`: one redacted JSON
 * line per call, at the matching level, context `console`. The OpenAI SDK
 * prints one kind of unparseable event with console.error whatever its
 * `logLevel` (refused before it now, see provider-fetch.ts); raw text on
 * stdout could hold a secret or pose as a log line of ours, one per line it
 * holds. For the server's entry (main.ts), not for tests, which keep Jest's
 * console. Returns what undoes it.
 */
export function routeConsoleTo(logger: AppLogger): () => void {
  const names = ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir', 'table', 'group', 'groupCollapsed'] as const;
  const saved = Object.fromEntries(names.map((name) => [name, console[name]]));
  const to = (level: 'log' | 'warn' | 'error' | 'debug') => (...args: unknown[]) => logger[level](format(...args), 'console');
  Object.assign(console, {
    log: to('log'),
    info: to('log'),
    warn: to('warn'), // console.assert prints through it
    error: to('error'),
    debug: to('debug'),
    trace: (...args: unknown[]) => logger.debug(`Trace: ${format(...args)}\n${new Error().stack?.split('\n').slice(2).join('\n') ?? ''}`, 'console'),
    dir: (value: unknown) => logger.log(inspect(value), 'console'),
    table: to('log'),
    group: to('log'),
    groupCollapsed: to('log'),
  });
  return () => void Object.assign(console, saved);
}
