import { ConsoleLogger } from '@nestjs/common';
import { redactSecrets } from './redact';

/**
 * The app-wide logger (`app.useLogger`): every Nest Logger call passes through
 * it, so no log line can print a configured secret, whichever class logs it.
 */
export class RedactingLogger extends ConsoleLogger {
  constructor(private readonly secrets: readonly string[]) {
    super();
  }

  private clean(args: unknown[]): unknown[] {
    return args.map((a) => (typeof a === 'string' ? redactSecrets(a, this.secrets) : a));
  }

  override log(message: unknown, ...rest: unknown[]): void {
    super.log(...(this.clean([message, ...rest]) as [unknown]));
  }
  override error(message: unknown, ...rest: unknown[]): void {
    super.error(...(this.clean([message, ...rest]) as [unknown]));
  }
  override warn(message: unknown, ...rest: unknown[]): void {
    super.warn(...(this.clean([message, ...rest]) as [unknown]));
  }
  override debug(message: unknown, ...rest: unknown[]): void {
    super.debug(...(this.clean([message, ...rest]) as [unknown]));
  }
  override verbose(message: unknown, ...rest: unknown[]): void {
    super.verbose(...(this.clean([message, ...rest]) as [unknown]));
  }
  override fatal(message: unknown, ...rest: unknown[]): void {
    super.fatal(...(this.clean([message, ...rest]) as [unknown]));
  }
}
