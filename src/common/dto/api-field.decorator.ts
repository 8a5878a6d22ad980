import { applyDecorators } from '@nestjs/common';
import { ApiProperty, type ApiPropertyOptions } from '@nestjs/swagger';
import { Expose, Type } from 'class-transformer';

/**
 * A response field: documented for OpenAPI and exposed to the serializer.
 * The global ClassSerializerInterceptor runs with `excludeAll`, so a property
 * without this decorator never reaches a client (fail closed).
 */
export function ApiField(options: ApiPropertyOptions & { nested?: new () => unknown } = {}): PropertyDecorator {
  const { nested, ...apiOptions } = options;
  const decorators: PropertyDecorator[] = [Expose(), ApiProperty(nested ? ({ type: nested, ...apiOptions } as ApiPropertyOptions) : apiOptions)];
  if (nested) decorators.push(Type(() => nested));
  return applyDecorators(...decorators);
}

