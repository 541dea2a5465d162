/**
 * The version every command reports (Python `commands/base.py command_version`): 3.3 =
 * `max_lines` supported, 3.2 = `failure_reason` updates on timeouts. The 3.7 Python worker
 * said "3.1"; masters only gate features on minimum versions. Its own module so that
 * `worker --version` names it without loading the commands.
 */
export const COMMAND_VERSION = '3.3';
