// A software authenticator for tests: a P-256 key (node:crypto), "none" attestation, and
// every field of its output open to tampering (origin, RP ID hash, flags, counter,
// userHandle, signature), so each refusal can be provoked on purpose. It writes the few
// bytes of CBOR its own output needs; the server parses them with @simplewebauthn/server.
import crypto from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

// --- CBOR (RFC 8949), only what an attestation object and a COSE EC2 key contain.
type Cbor = number | string | Uint8Array | Map<Cbor, Cbor>;

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  const parts = [head(5, value.size)];
  for (const [k, v] of value) parts.push(cbor(k), cbor(v));
  return Buffer.concat(parts);
}

// --- authenticator data flags (WebAuthn L3 §6.1)
export const FLAG = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40 } as const;

export interface Flags {
  up: boolean;
  uv: boolean;
  be: boolean;
  bs: boolean;
}

/** What a test may change in one response. */
export interface Tamper {
  origin?: string;
  rpId?: string;
  type?: string;
  challenge?: string;
  flags?: Partial<Flags>;
  /** The counter to report (the authenticator's own is not advanced). */
  signCount?: number;
  /** null: leave the userHandle out. */
  userHandle?: string | null;
  /** Flip a bit of the signature. */
  corruptSignature?: boolean;
  /** Sign with another key than the registered one. */
  otherKey?: boolean;
}

export interface AuthenticatorOptions {
  origin?: string;
  /** Synced passkey: backup eligible and backed up, counter always 0. */
  synced?: boolean;
  /** A hardware key that keeps a counter (default) or one that always says 0. */
  zeroCounter?: boolean;
  userVerification?: boolean;
  aaguid?: string;
}

const sha256 = (data: Buffer | string) => crypto.createHash('sha256').update(data).digest();

export class SoftwareAuthenticator {
  readonly credentialId = crypto.randomBytes(32);
  private readonly keys = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  signCount = 0;
  /** Set at registration from the options' user.id (base64url), returned in assertions like a discoverable credential. */
  userHandle: string | undefined;
  readonly origin: string;
  readonly flags: Flags;
  private readonly zeroCounter: boolean;
  private readonly aaguid: Buffer;

  constructor(options: AuthenticatorOptions = {}) {
    this.origin = options.origin ?? 'http://localhost:8080';
    const synced = options.synced ?? false;
    this.flags = { up: true, uv: options.userVerification ?? true, be: synced, bs: synced };
    this.zeroCounter = options.zeroCounter ?? synced;
    this.aaguid = Buffer.from((options.aaguid ?? '00000000-0000-0000-0000-000000000000').replace(/-/g, ''), 'hex');
  }

  get id(): string {
    return this.credentialId.toString('base64url');
  }

  /** navigator.credentials.create(), as RegistrationResponseJSON. */
  register(options: PublicKeyCredentialCreationOptionsJSON, tamper: Tamper = {}): RegistrationResponseJSON {
    this.userHandle = options.user.id;
    const jwk = this.keys.publicKey.export({ format: 'jwk' });
    const coseKey = cbor(
      new Map<Cbor, Cbor>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
    const attested = Buffer.concat([this.aaguid, Buffer.from([this.credentialId.length >> 8, this.credentialId.length & 0xff]), this.credentialId, coseKey]);
    const authData = this.authData(tamper.rpId ?? options.rp.id ?? 'localhost', tamper, FLAG.AT, tamper.signCount ?? this.signCount, attested);
    const clientDataJSON = this.clientData('webauthn.create', options.challenge, tamper);
    const attestationObject = cbor(new Map<Cbor, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        attestationObject: attestationObject.toString('base64url'),
        transports: ['internal', 'hybrid'],
      },
    };
  }

  /** navigator.credentials.get(), as AuthenticationResponseJSON. Advances the counter (unless tampered or zero). */
  assert(options: Pick<PublicKeyCredentialRequestOptionsJSON, 'challenge' | 'rpId'>, tamper: Tamper = {}): AuthenticationResponseJSON {
    if (tamper.signCount === undefined && !this.zeroCounter) this.signCount += 1;
    const count = tamper.signCount ?? (this.zeroCounter ? 0 : this.signCount);
    const authData = this.authData(tamper.rpId ?? options.rpId ?? 'localhost', tamper, 0, count);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, tamper);
    const key = tamper.otherKey ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : this.keys.privateKey;
    const signature = crypto.sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), key);
    if (tamper.corruptSignature) signature[signature.length - 1]! ^= 0x01;
    const userHandle = tamper.userHandle === null ? undefined : (tamper.userHandle ?? this.userHandle);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: signature.toString('base64url'),
        ...(userHandle !== undefined ? { userHandle } : {}),
      },
    };
  }

  private clientData(type: string, challenge: string, tamper: Tamper): Buffer {
    return Buffer.from(JSON.stringify({ type: tamper.type ?? type, challenge: tamper.challenge ?? challenge, origin: tamper.origin ?? this.origin, crossOrigin: false }));
  }

  private authData(rpId: string, tamper: Tamper, extraFlags: number, count: number, attested?: Buffer): Buffer {
    const f = { ...this.flags, ...tamper.flags };
    const flags = (f.up ? FLAG.UP : 0) | (f.uv ? FLAG.UV : 0) | (f.be ? FLAG.BE : 0) | (f.bs ? FLAG.BS : 0) | extraFlags;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(count);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), counter, ...(attested ? [attested] : [])]);
  }
}
