import type { CommandFactory } from './context.js';
import { downloadFileCommand } from './transfer/download-file.js';
import { uploadDirectoryCommand } from './transfer/upload-directory.js';
import { uploadFileCommand } from './transfer/upload-file.js';

export { downloadFileCommand, uploadDirectoryCommand, uploadFileCommand };
export { MAX_TRANSFER_BLOCK_BYTES, MAX_IN_FLIGHT_BYTES } from './transfer/limits.js';

/**
 * The transfer commands under the camelCase names of the Python registry; the registry
 * adds the snake_case aliases (`upload_file`, ...) that msgpack masters use.
 */
export const transferCommandFactories: Record<string, CommandFactory> = {
  uploadFile: uploadFileCommand,
  uploadDirectory: uploadDirectoryCommand,
  downloadFile: downloadFileCommand,
};
