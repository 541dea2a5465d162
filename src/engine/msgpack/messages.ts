import type { MsgpackMessage } from '../../protocol/msgpack.js';

/**
 * The response and error texts of `msgpack_experimental_v7` that both ends write
 * (`docs/protocol/msgpack.md` §2.1, §6): the Python master and worker answer with the
 * same `str(KeyError(...))` spellings.
 */

/** `is_exception` only on failure: its presence alone marks an error. */
export function responseMessage(seqNumber: number, result: unknown, isException = false): MsgpackMessage {
  const out: MsgpackMessage = { op: 'response', seq_number: seqNumber, result };
  if (isException) out.is_exception = true;
  return out;
}

/** Python's `str(KeyError(text))`: the text in single quotes. */
export const keyErrorText = (text: string): string => `'${text}'`;

/** Error text for a request that lacks a key the op needs (`contains_msg_key` in both peers). */
export const missingKeyText = (key: string): string => keyErrorText(`message did not contain obligatory "${key}" key`);

/** The text both peers answer an unknown op with (§2.1). */
export const unknownOpText = (op: unknown): string => `Command ${String(op)} does not exist.`;
