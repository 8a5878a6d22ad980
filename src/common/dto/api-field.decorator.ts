import { applyDecorators } from '@nestjs/common';
import { ApiProperty, type ApiPropertyOptions } from '@nestjs/swagger';
import { registerResponseField } from '../serialization/response-fields';

/**
 * A response field: documented for OpenAPI and allow-listed for the
 * serializer (`nested` names the DTO class of an object or array field).
 * The global AllowListSerializerInterceptor sends only these properties, so a
 * property without this decorator never reaches a client (fail closed).
 */
export function ApiField(options: ApiPropertyOptions & { nested?: new () => unknown } = {}): PropertyDecorator {
  const { nested, ...apiOptions } = options;
  const allowList: PropertyDecorator = (target, key) => registerResponseField(target.constructor, { key: String(key), nested });
  return applyDecorators(allowList, ApiProperty(nested ? ({ type: nested, ...apiOptions } as ApiPropertyOptions) : apiOptions));
}

