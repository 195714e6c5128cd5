import type { createRemoteJWKSet as CreateRemoteJWKSet } from 'jose';

// jose is loaded when Cloudflare Access is configured and its first assertion is checked.
let joseModule: Promise<typeof import('jose')> | undefined;
const jose = () => (joseModule ??= import('jose'));
import { CcgError } from '../../protocol/errors.js';

export interface CfAccessConfig {
  /** `myteam`, `myteam.cloudflareaccess.com` or `https://myteam.cloudflareaccess.com`. */
  teamDomain: string;
  /** The application's Audience (AUD) tag. */
  aud: string;
  /** Where the signing keys are; default `<team domain>/cdn-cgi/access/certs` (overridden in tests). */
  certsUrl?: string;
}

export const CF_ACCESS_HEADER = 'cf-access-jwt-assertion';

/** The issuer URL of a team domain, however it was written. */
export function teamIssuer(teamDomain: string): string {
  let d = teamDomain.trim().replace(/\/+$/, '');
  if (!/^https?:\/\//.test(d)) d = `https://${d.includes('.') ? d : `${d}.cloudflareaccess.com`}`;
  return new URL(d).origin;
}

/**
 * Checks Cloudflare Access assertions (the `Cf-Access-Jwt-Assertion` header Access adds to every
 * request it lets through) with `jose`: RS256 only, `iss` = the team domain, `aud` = the
 * application's tag, `exp`/`nbf` enforced. Keys come from the team's certs endpoint and are
 * cached; a token naming an unknown key id triggers a refetch at most once per cooldown, so
 * forged key ids cannot make the gateway hammer Cloudflare.
 */
export class CfAccessVerifier {
  readonly issuer: string;
  readonly certsUrl: string;
  private jwks: ReturnType<typeof CreateRemoteJWKSet> | undefined;

  constructor(
    private readonly config: CfAccessConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.issuer = teamIssuer(config.teamDomain);
    this.certsUrl = config.certsUrl ?? `${this.issuer}/cdn-cgi/access/certs`;
  }

  /** The verified email of the person, or a CcgError saying why not (never the token itself). */
  async verify(token: string | undefined): Promise<{ email: string; sub: string }> {
    if (!token) throw new CcgError('ERR_ACCESS_DENIED', 'no Cf-Access-Jwt-Assertion header: this gateway is only reachable through Cloudflare Access');
    if (token.length > 16 * 1024) throw new CcgError('ERR_ACCESS_DENIED', 'the Access assertion is too large');
    try {
      const { createRemoteJWKSet, jwtVerify } = await jose();
      this.jwks ??= createRemoteJWKSet(new URL(this.certsUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5000 });
      const { payload } = await jwtVerify(token, this.jwks, {
        algorithms: ['RS256'],
        issuer: this.issuer,
        audience: this.config.aud,
        currentDate: new Date(this.now()),
        clockTolerance: 5,
        requiredClaims: ['exp', 'iat'],
      });
      const email = typeof payload['email'] === 'string' ? payload['email'].trim().toLowerCase() : '';
      if (!email) throw new CcgError('ERR_ACCESS_DENIED', 'the Access assertion carries no email (service tokens cannot use the pages)');
      return { email, sub: payload.sub ?? '' };
    } catch (err) {
      if (err instanceof CcgError) throw err;
      throw new CcgError('ERR_ACCESS_DENIED', `the Access assertion was refused: ${describe(err, (await jose()).errors)}`);
    }
  }
}

function describe(err: unknown, joseErrors: typeof import('jose').errors): string {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim ${err.claim} is wrong`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed (RS256 only)';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'signed with an unknown key';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) return 'the signing keys could not be fetched';
  if (err instanceof joseErrors.JOSEError) return err.code;
  return 'malformed';
}
