import type { Diagnostic } from '../common/dto/diagnostic.dto';

/**
 * A source failed for a reason it can name generically (its store is down,
 * say). The diagnostic is public; the cause is for the operator log only.
 * Single-runtime routes turn it into a 500 carrying the diagnostic; aggregate
 * lists show the diagnostic in place of the source's items.
 */
export class RuntimeSourceError extends Error {
  constructor(
    readonly diagnostic: Diagnostic,
    override readonly cause: unknown,
  ) {
    super(diagnostic.message);
    this.name = 'RuntimeSourceError';
  }
}
