// The browser side of a WebAuthn ceremony: Tessera's options JSON in, the credential's JSON
// out, DOMExceptions turned into TesseraError codes.
//
// The browser's own helpers are used where present (PublicKeyCredential.parseCreationOptionsFromJSON,
// parseRequestOptionsFromJSON, credential.toJSON(): Chromium 129+, Firefox 119+, Safari 18.4+);
// elsewhere a few lines convert the base64url members by hand. No dependency
// (@simplewebauthn/browser does the same conversion in a package of its own).
import { fromBase64url, toBase64url } from './base64url.js';
import { TesseraError } from './errors.js';

type Json = Record<string, unknown>;

/** The part of `navigator.credentials` a ceremony uses (replaceable: tests, polyfills). */
export type CredentialsApi = Pick<CredentialsContainer, 'create' | 'get'>;

interface PublicKeyCredentialStatics {
  parseCreationOptionsFromJSON?(options: Json): PublicKeyCredentialCreationOptions;
  parseRequestOptionsFromJSON?(options: Json): PublicKeyCredentialRequestOptions;
  isConditionalMediationAvailable?(): Promise<boolean>;
}

function statics(): PublicKeyCredentialStatics | undefined {
  return (globalThis as unknown as { PublicKeyCredential?: PublicKeyCredentialStatics }).PublicKeyCredential;
}

/** The page's `navigator.credentials` when it does WebAuthn (a secure context in a browser). */
export function platformCredentials(): CredentialsApi | undefined {
  const navigator = (globalThis as { navigator?: { credentials?: CredentialsContainer } }).navigator;
  return navigator?.credentials && statics() ? navigator.credentials : undefined;
}

/** True when the browser offers passkeys in the autofill of an `autocomplete="username webauthn"` field. */
export async function conditionalMediationAvailable(): Promise<boolean> {
  try {
    return (await statics()?.isConditionalMediationAvailable?.()) === true;
  } catch {
    return false;
  }
}

export async function createCredential(api: CredentialsApi, options: Json, signal: AbortSignal): Promise<Json> {
  const parse = statics()?.parseCreationOptionsFromJSON;
  const publicKey = parse ? parse(options) : creationOptions(options);
  return credentialJSON(await ceremony(() => api.create({ publicKey, signal })));
}

export async function getCredential(api: CredentialsApi, options: Json, mediation: 'conditional' | undefined, signal: AbortSignal): Promise<Json> {
  const parse = statics()?.parseRequestOptionsFromJSON;
  const publicKey = parse ? parse(options) : requestOptions(options);
  const request = { publicKey, signal, ...(mediation ? { mediation } : {}) } as CredentialRequestOptions;
  return credentialJSON(await ceremony(() => api.get(request)));
}

async function ceremony(run: () => Promise<Credential | null>): Promise<PublicKeyCredential> {
  let credential: Credential | null;
  try {
    credential = await run();
  } catch (err) {
    throw ceremonyError(err);
  }
  if (!credential) throw new TesseraError('passkey_cancelled', 0, 'No passkey was chosen');
  return credential as PublicKeyCredential;
}

/** What went wrong in the browser, as a stable code (status 0: Tessera was not asked). */
export function ceremonyError(err: unknown): TesseraError {
  if (err instanceof TesseraError) return err;
  const name = (err as { name?: unknown } | null)?.name;
  switch (name) {
    case 'NotAllowedError':
      return new TesseraError('passkey_cancelled', 0, 'The passkey prompt was dismissed or timed out, or no passkey for this site was chosen');
    case 'AbortError':
      return new TesseraError('passkey_aborted', 0, 'The passkey prompt was aborted (another ceremony started, or the app cancelled it)');
    case 'InvalidStateError':
      return new TesseraError('passkey_exists', 0, 'This authenticator already holds a passkey for this account');
    case 'SecurityError':
      return new TesseraError('passkey_origin_mismatch', 0, "The page's origin does not match Tessera's WebAuthn relying party (WEBAUTHN_RP_ID, WEBAUTHN_ORIGINS)");
    case 'NotSupportedError':
      return new TesseraError('passkeys_unsupported', 0, 'This browser or authenticator does not support the requested passkey options');
    default:
      return new TesseraError('passkey_failed', 0, `The passkey ceremony failed: ${(err as Error | null)?.message ?? String(err)}`);
  }
}

// --- the fallback conversions (WebAuthn Level 3 §5.1.8 / §5.1.9 / §5.1.10) ------------------

function descriptors(list: unknown): PublicKeyCredentialDescriptor[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return (list as Json[]).map((d) => ({ ...d, id: fromBase64url(String(d.id)) }) as PublicKeyCredentialDescriptor);
}

function creationOptions(json: Json): PublicKeyCredentialCreationOptions {
  const user = json.user as Json;
  return {
    ...json,
    challenge: fromBase64url(String(json.challenge)),
    user: { ...user, id: fromBase64url(String(user.id)) },
    excludeCredentials: descriptors(json.excludeCredentials),
  } as unknown as PublicKeyCredentialCreationOptions;
}

function requestOptions(json: Json): PublicKeyCredentialRequestOptions {
  return { ...json, challenge: fromBase64url(String(json.challenge)), allowCredentials: descriptors(json.allowCredentials) } as unknown as PublicKeyCredentialRequestOptions;
}

interface ResponseWithExtras extends AuthenticatorResponse {
  attestationObject?: ArrayBuffer;
  authenticatorData?: ArrayBuffer;
  signature?: ArrayBuffer;
  userHandle?: ArrayBuffer | null;
  getTransports?(): string[];
  getPublicKeyAlgorithm?(): number;
  getPublicKey?(): ArrayBuffer | null;
  getAuthenticatorData?(): ArrayBuffer;
}

/** RegistrationResponseJSON or AuthenticationResponseJSON, as `credential.toJSON()` gives it. */
function credentialJSON(credential: PublicKeyCredential): Json {
  const native = (credential as { toJSON?: () => Json }).toJSON;
  if (typeof native === 'function') return native.call(credential);
  const r = credential.response as ResponseWithExtras;
  const response: Json = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toBase64url(r.attestationObject);
    if (r.getAuthenticatorData) response.authenticatorData = toBase64url(r.getAuthenticatorData());
    if (r.getTransports) response.transports = r.getTransports();
    if (r.getPublicKeyAlgorithm) response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
    const publicKey = r.getPublicKey?.();
    if (publicKey) response.publicKey = toBase64url(publicKey);
  } else {
    if (r.authenticatorData) response.authenticatorData = toBase64url(r.authenticatorData);
    if (r.signature) response.signature = toBase64url(r.signature);
    if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response,
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}
