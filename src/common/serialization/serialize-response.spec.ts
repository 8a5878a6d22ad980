import { ApiField } from '../dto/api-field.decorator';
import { registerResponseField } from './response-fields';
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

  it('sends exactly the allow-listed keys that hold a value, in declaration order, and copies arrays', () => {
    const dto = Object.assign(new OuterDto(), { name: 'n', maybe: null, tags: ['x'], inner: inner('1'), list: [], internalPath: '/p' });
    const out = serializeResponse(dto) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['name', 'maybe', 'tags', 'inner', 'list']);
    expect(Object.keys(serializeResponse(Object.assign(new OuterDto(), dto, { optional: 0 })) as object)).toEqual(['name', 'maybe', 'tags', 'inner', 'list', 'optional']);
    expect(out.tags).toEqual(['x']);
    expect(out.tags).not.toBe(dto.tags);
  });

  it('refuses what is not the declared DTO class in a nested field, and objects inside a plain array', () => {
    const base = { name: 'n', maybe: null, tags: [], inner: inner('1'), list: [] };
    expect(() => serializeResponse(Object.assign(new OuterDto(), base, { list: [inner('2'), { a: 'plain' }] }))).toThrow(/expected InnerDto/);
    expect(() => serializeResponse(Object.assign(new OuterDto(), base, { inner: 'text' }))).toThrow(/expected InnerDto/);
    expect(() => serializeResponse(Object.assign(new OuterDto(), base, { tags: ['x', { socket_path: '/x' }] }))).toThrow(/OuterDto.tags holds an object/);
  });

  it('treats a key as data, whatever its characters (keys are written into the compiled copy as literals)', () => {
    class OddKeysDto {}
    const keys = ['a"] = 1; throw new Error("injected"); //', 'back\\slash', 'line\nbreak', 'dash-ed', '\u2028'];
    for (const key of keys) registerResponseField(OddKeysDto, { key });
    const dto = Object.assign(new OddKeysDto(), Object.fromEntries(keys.map((k, i) => [k, i])), { other: 'x' });
    expect(serializeResponse(dto)).toEqual(Object.fromEntries(keys.map((k, i) => [k, i])));
  });

  it('serialises a DTO that nests its own class', () => {
    class TreeDto {
      @ApiField() name: string;
      @ApiField({ nested: TreeDto, isArray: true }) children: TreeDto[];
    }
    const tree = (name: string, children: TreeDto[] = []) => Object.assign(new TreeDto(), { name, children, hidden: '/x' });
    expect(serializeResponse(tree('a', [tree('b', [tree('c')])]))).toEqual({ name: 'a', children: [{ name: 'b', children: [{ name: 'c', children: [] }] }] });
  });
});
