import { RemoteRef, type JellyValue } from '../../protocol/jelly.js';
import { Referenceable, type Broker } from '../../engine/pb/broker.js';
import { PyTuple } from '../../values.js';
import { checkResponse, newChallenge } from './newcred.js';
import { pyFailure, unauthorizedLogin } from './failure.js';

/**
 * The master's twisted.cred portal over PB (`docs/protocol/pb.md` §5): the root
 * object answers `login(username)` with `(challenge, challenger)`, the one-shot
 * challenger checks `respond(MD5(MD5(password) ‖ challenge), mind)` and, for good
 * credentials, answers with the perspective only after the attach sequence ran.
 */

export interface PortalOptions {
  broker: Broker;
  /** The configured password, or undefined for an unknown worker. */
  password(name: string): string | undefined;
  /**
   * Good credentials: attach the worker whose Bot is `mind`. Resolves with the perspective
   * to answer `respond` with; rejects (a PbFailure) to refuse the worker.
   */
  attach(name: string, mind: RemoteRef): Promise<Referenceable>;
  authFailure(name: string | null, reason: string): void;
  violation(message: string): void;
}

const utf8 = new TextDecoder('utf-8');

/** The username of `login`: bytes on the wire (§5 step 1); text is tolerated. */
function username(value: JellyValue | undefined): string | undefined {
  if (value instanceof Uint8Array) return utf8.decode(value);
  if (typeof value === 'string') return value;
  return undefined;
}

export class PbRoot extends Referenceable {
  constructor(private readonly opts: PortalOptions) {
    super('root');
    this.expose({ login: (args) => this.login(args) });
  }

  private login(args: JellyValue[]): PyTuple {
    const name = username(args[0]);
    if (name === undefined || args.length !== 1) {
      this.opts.broker.releaseAll(args);
      this.opts.violation('login() expects one argument, the worker name as bytes');
      throw pyFailure('builtins.TypeError', 'remote_login() takes 2 positional arguments');
    }
    if (!(args[0] instanceof Uint8Array)) this.opts.violation('login() username sent as text, not bytes');
    const challenge = newChallenge();
    // The challenger goes out as ['remote', luid] inside the answer tuple.
    return new PyTuple([challenge, new PbChallenger(this.opts, name, challenge) as never]);
  }
}

export class PbChallenger extends Referenceable {
  private used = false;

  constructor(
    private readonly opts: PortalOptions,
    private readonly name: string,
    private readonly challenge: Uint8Array,
  ) {
    super(`challenger(${name})`);
    this.expose({ respond: (args) => this.respond(args) });
  }

  private async respond(args: JellyValue[]): Promise<Referenceable> {
    const { broker } = this.opts;
    const [response, mind] = args;
    if (this.used) {
      broker.releaseAll(args);
      this.opts.violation('respond() called twice on the same challenger');
      throw unauthorizedLogin();
    }
    this.used = true;
    const password = this.opts.password(this.name);
    const good = password !== undefined && response instanceof Uint8Array && checkResponse(password, this.challenge, response);
    if (!good) {
      // Like the master (capture #8): the mind is dropped before the error goes out.
      broker.releaseAll(args);
      this.opts.authFailure(this.name, 'UnauthorizedLogin');
      throw unauthorizedLogin();
    }
    if (!(mind instanceof RemoteRef) || args.length !== 2) {
      broker.releaseAll(args);
      this.opts.violation('respond() without a mind reference (the worker Bot)');
      throw pyFailure('builtins.AttributeError', "'NoneType' object has no attribute 'broker'");
    }
    return this.opts.attach(this.name, mind);
  }
}
