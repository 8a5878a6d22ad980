import { ApiField } from '../dto/api-field.decorator';
import { serializeResponse, UnserializableResponseError } from './serialize-response';

class InnerDto {
  @ApiField() a: string;
  secret?: string;
}

class OuterDto {
  @ApiField() name: string;
  @ApiField({ type: String, nullable: true }) maybe: string | null;
  @ApiField({ type: [String] }) tags: string[];
  @ApiField({ nested: InnerDto }) inner: InnerDto;
  @ApiField({ nested: InnerDto, isArray: true }) list: InnerDto[];
  @ApiField({ required: false }) optional?: number;
  internalPath?: string;
}

class DerivedDto extends InnerDto {
  @ApiField() b: number;
}

const inner = (a: string) => Object.assign(new InnerDto(), { a, secret: '/etc/secret' });

describe('serializeResponse (the fail-closed allow-list serializer)', () => {
  it('copies only allow-listed properties, recursively', () => {
    const dto = Object.assign(new OuterDto(), { name: 'n', maybe: null, tags: ['x'], inner: inner('1'), list: [inner('2')], internalPath: '/data/pods' });
    expect(serializeResponse(dto)).toEqual({ name: 'n', maybe: null, tags: ['x'], inner: { a: '1' }, list: [{ a: '2' }] });
    expect(JSON.stringify(serializeResponse(dto))).not.toContain('/');
  });

  it('includes inherited fields', () => {
    expect(serializeResponse(Object.assign(new DerivedDto(), { a: 'x', b: 2, secret: 's' }))).toEqual({ a: 'x', b: 2 });
  });

  it('refuses plain objects, unknown classes and objects in undeclared fields', () => {
    expect(() => serializeResponse({ name: 'n' })).toThrow(UnserializableResponseError);
    expect(() => serializeResponse(new (class Internal {})())).toThrow(/not a response DTO/);
    const sneaky = Object.assign(new OuterDto(), { name: 'n', maybe: null, tags: [], inner: { a: 'plain', secret: 's' }, list: [] });
    expect(() => serializeResponse(sneaky)).toThrow(UnserializableResponseError);
    const objectInScalarField = Object.assign(new OuterDto(), { name: { socket_path: '/x' }, maybe: null, tags: [], inner: inner('1'), list: [] });
    expect(() => serializeResponse(objectInScalarField)).toThrow(/declares no DTO class/);
  });
});
