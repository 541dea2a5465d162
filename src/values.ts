/**
 * Protocol-neutral value markers. Python distinguishes int from float and tuple from
 * list; JavaScript does not. Code above the codecs marks the few values whose Python
 * type matters on the wire (e.g. `elapsed` is a float, `stat` is a tuple), and each
 * codec spells them its own way (jelly FLOAT / `tuple`, msgpack float64 / array).
 */
export class PyFloat {
  constructor(readonly value: number) {}
}

export class PyTuple {
  readonly items: readonly PyValue[];
  constructor(items: readonly PyValue[]) {
    this.items = items;
  }
}

/**
 * A value that can cross either protocol. Numbers are ints unless wrapped in PyFloat
 * (a non-integral number is always sent as a float). Strings are text; Uint8Array is bytes.
 * `Extra` is what one protocol adds at any depth (jelly: sets, references, failures).
 */
export type PyValue<Extra = never> = PyScalar | PyTuple | Extra | PyValue<Extra>[] | { [key: string]: PyValue<Extra> };

/** The Python scalars both protocols carry: None, bool, int, str, bytes, float. */
export type PyScalar = null | boolean | number | bigint | string | Uint8Array | PyFloat;

export const float = (value: number): PyFloat => new PyFloat(value);
export const tuple = (...items: PyValue[]): PyTuple => new PyTuple(items);
