// The WebAuthn relying party: options out, responses checked by @simplewebauthn/server (CBOR,
// COSE, attestation, signatures), plus the Level 3 steps the library leaves to its caller —
// which this file and PasskeyService do: the challenge's purpose and single use, the
// userHandle of a discoverable sign-in, backup eligibility that must not change, the counter.
import type * as SimpleWebAuthn from '@simplewebauthn/server';
import type {
  AuthenticationResponseJSON,
  AuthenticatorTransportFuture,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { WebauthnConfig } from '../config.ts';
import { AuthError } from '../errors.ts';
import { CHALLENGE_TTL_SECONDS } from './challenge-store.ts';
import type { Passkey } from './passkey-store.ts';

export const TRANSPORTS: readonly AuthenticatorTransportFuture[] = ['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'];

/** Why a ceremony was refused: the `reason` of the `passkey.refused` audit line. */
export type RefusalReason =
  | 'wrong_origin'
  | 'wrong_rp_id'
  | 'wrong_type'
  | 'up_missing'
  | 'uv_missing'
  | 'bad_signature'
  | 'unknown_credential'
  | 'user_handle_mismatch'
  | 'backup_eligibility_changed'
  | 'counter_regressed'
  | 'duplicate_credential'
  | 'malformed';

/** A refused ceremony: answered 401 invalid_passkey (409 for a duplicate), audited with its reason. */
export class PasskeyRefusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    detail: string,
  ) {
    super(detail);
    this.name = 'PasskeyRefusal';
  }

  toAuthError(): AuthError {
    if (this.reason === 'duplicate_credential') return new AuthError('passkey_already_registered', this.message);
    return new AuthError('invalid_passkey', this.message, { reason: this.reason });
  }
}

export interface VerifiedRegistration {
  credentialId: string;
  publicKey: string;
  signCount: number;
  backupEligible: boolean;
  backedUp: boolean;
  aaguid: string;
  userVerified: boolean;
}

export interface VerifiedAssertion {
  passkey: Passkey;
  signCount: number;
  userVerified: boolean;
  backedUp: boolean;
}

/** The user handle of an account: the 16 bytes of its UUID (random, no personal data). */
export function userHandleOf(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));
}

/**
 * The challenge a response's clientDataJSON echoes, read before anything else so that the
 * stored challenge can be consumed first. A clientDataJSON that is not base64url JSON with a
 * string challenge is a malformed body (400 naming the field), not a refused ceremony.
 */
export function challengeOf(clientDataJSON: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const challenge = (parsed as { challenge?: unknown } | undefined)?.challenge;
  if (typeof challenge !== 'string' || challenge.length === 0 || challenge.length > 256) {
    const field = 'credential.response.clientDataJSON';
    throw new AuthError('validation_failed', `${field}: must be base64url of the client data JSON with its challenge`, {
      errors: [{ field, message: 'must be base64url of the client data JSON with its challenge' }],
    });
  }
  return challenge;
}

/** The library's refusals, sorted into reasons (its messages are not a stable API: anything else is `malformed`). */
function reasonOf(err: unknown): RefusalReason {
  const message = err instanceof Error ? err.message : '';
  if (/origin/i.test(message)) return 'wrong_origin';
  if (/RP ?ID/i.test(message)) return 'wrong_rp_id';
  if (/response type/i.test(message)) return 'wrong_type';
  if (/not present/i.test(message)) return 'up_missing';
  if (/verification required/i.test(message)) return 'uv_missing';
  if (/signature/i.test(message)) return 'bad_signature';
  return 'malformed';
}

const DETAILS: Record<RefusalReason, string> = {
  wrong_origin: 'The passkey response comes from an origin this service does not accept',
  wrong_rp_id: 'The passkey response is for another relying party',
  wrong_type: 'The passkey response is for another kind of ceremony',
  up_missing: 'The authenticator did not test user presence',
  uv_missing: 'The authenticator did not verify the user, and this sign-in requires it',
  bad_signature: 'The passkey signature does not verify',
  unknown_credential: 'This passkey is not registered here',
  user_handle_mismatch: 'The passkey response names another account',
  backup_eligibility_changed: 'The passkey changed its backup eligibility since it was registered',
  counter_regressed: 'The passkey signature counter went backwards: possibly a cloned authenticator',
  duplicate_credential: 'This passkey is already registered',
  malformed: 'The passkey response is not valid',
};

/** The library takes a string challenge as UTF-8 text; ours is base64url of random bytes, so hand it the bytes. */
const challengeBytes = (challenge: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(challenge, 'base64url'));

export const refusal = (reason: RefusalReason): PasskeyRefusal => new PasskeyRefusal(reason, DETAILS[reason]);

/**
 * The library (with its CBOR, ASN.1 and X.509 dependencies, ~20 MB resident) is loaded at
 * the first ceremony, not at start: most replicas never see one (docs/performance.md, "Footprint").
 */
let library: Promise<typeof SimpleWebAuthn> | undefined;
const webauthn = () => (library ??= import('@simplewebauthn/server'));

export class RelyingParty {
  constructor(private readonly config: WebauthnConfig) {}

  /** Discoverable credential required (passwordless sign-in needs it), no attestation asked. */
  async registrationOptions(o: { challenge: string; userId: string; userName: string; exclude: Passkey[] }): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const { generateRegistrationOptions } = await webauthn();
    return generateRegistrationOptions({
      rpName: this.config.rpName,
      rpID: this.config.rpId,
      userID: userHandleOf(o.userId),
      userName: o.userName,
      challenge: challengeBytes(o.challenge),
      timeout: CHALLENGE_TTL_SECONDS * 1000,
      attestationType: 'none',
      excludeCredentials: o.exclude.map((p) => ({ id: p.credentialId, transports: p.transports as AuthenticatorTransportFuture[] })),
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'preferred' },
    });
  }

  async authenticationOptions(o: { challenge: string; allow: Passkey[]; userVerification: 'required' | 'preferred' }): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const { generateAuthenticationOptions } = await webauthn();
    return generateAuthenticationOptions({
      rpID: this.config.rpId,
      challenge: challengeBytes(o.challenge),
      timeout: CHALLENGE_TTL_SECONDS * 1000,
      userVerification: o.userVerification,
      allowCredentials: o.allow.map((p) => ({ id: p.credentialId, transports: p.transports as AuthenticatorTransportFuture[] })),
    });
  }

  /** Attestation "none" or any format the library verifies; UP required, UV not (registration asks for it as preferred). */
  async verifyRegistration(response: RegistrationResponseJSON, challenge: string): Promise<VerifiedRegistration> {
    const { verifyRegistrationResponse } = await webauthn();
    let result;
    try {
      result = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.config.origins,
        expectedRPID: this.config.rpId,
        requireUserPresence: true,
        requireUserVerification: false,
      });
    } catch (err) {
      throw refusal(reasonOf(err));
    }
    if (!result.verified) throw refusal('bad_signature');
    const info = result.registrationInfo;
    return {
      credentialId: info.credential.id,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      signCount: info.credential.counter,
      backupEligible: info.credentialDeviceType === 'multiDevice',
      backedUp: info.credentialBackedUp,
      aaguid: info.aaguid,
      userVerified: info.userVerified,
    };
  }

  /**
   * Checks an assertion against the stored passkey. The counter is handed to the library as
   * 0 so that it never judges it: the library would compare before checking the signature
   * (an unsigned replay would then be reported as a clone), and the check that counts is the
   * compare-and-set in SQL (PasskeyStore.recordUse), which two replicas cannot both pass.
   */
  async verifyAssertion(response: AuthenticationResponseJSON, challenge: string, passkey: Passkey, requireUserVerification: boolean): Promise<VerifiedAssertion> {
    const { verifyAuthenticationResponse } = await webauthn();
    let result;
    try {
      result = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: this.config.origins,
        expectedRPID: this.config.rpId,
        credential: { id: passkey.credentialId, publicKey: new Uint8Array(Buffer.from(passkey.publicKey, 'base64url')), counter: 0 },
        requireUserVerification,
      });
    } catch (err) {
      throw refusal(reasonOf(err));
    }
    if (!result.verified) throw refusal('bad_signature');
    const info = result.authenticationInfo;
    // WebAuthn L3 §7.2 step 18: BE is a property of the credential; a change means another credential source.
    if ((info.credentialDeviceType === 'multiDevice') !== passkey.backupEligible) throw refusal('backup_eligibility_changed');
    return { passkey, signCount: info.newCounter, userVerified: info.userVerified, backedUp: info.credentialBackedUp };
  }
}
