//! Access tokens: JWTs signed with one configured key, verified with exactly that algorithm.
//!
//! The key comes from `MUSTER_JWT_SECRET` (HS256), `MUSTER_JWT_PRIVATE_KEY_FILE` (PEM,
//! Ed25519 → EdDSA or RSA → RS256), or is generated once and kept owner-readable in the data
//! directory. Verification allow-lists that single algorithm (so `alg: none` and key
//! confusion fail) and requires `exp`, `nbf`, `iss`, `aud` and `sub`.

use anyhow::{Context, bail};
use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use uuid::Uuid;

use crate::config::Settings;

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// The user's organisation.
    pub org: Uuid,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// The refresh-token family (session) the token belongs to: logout ends it at once.
    pub sid: Uuid,
}

pub struct Keys {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_s: i64,
}

impl Keys {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Keys> {
        let (algorithm, encoding, decoding) = if let Some(path) = &settings.jwt_private_key_file {
            keys_from_pem(&std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)?
        } else {
            let secret = match &settings.jwt_secret {
                Some(secret) => secret.expose().as_bytes().to_vec(),
                None => generated_secret(&settings.data_dir)?,
            };
            (
                Algorithm::HS256,
                EncodingKey::from_secret(&secret),
                DecodingKey::from_secret(&secret),
            )
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_audience(&[&settings.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        Ok(Keys {
            algorithm,
            encoding,
            decoding,
            validation,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            ttl_s: i64::try_from(settings.access_token_ttl_s).unwrap_or(i64::MAX / 2),
        })
    }

    pub fn ttl_s(&self) -> i64 {
        self.ttl_s
    }

    pub fn issue(&self, user_id: Uuid, org_id: Uuid, session: Uuid) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id,
            org: org_id,
            iat: now,
            nbf: now,
            exp: now + self.ttl_s,
            jti: Uuid::now_v7(),
            sid: session,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(self.algorithm),
            &claims,
            &self.encoding,
        )?)
    }

    /// The claims of a valid token; `None` for anything else (the reason is not the caller's
    /// business: every failure is the same 401).
    pub fn verify(&self, token: &str) -> Option<Claims> {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Some(data.claims),
            Err(e) => {
                tracing::debug!(reason = refusal(&e), "access token refused");
                None
            }
        }
    }
}

/// Why a token was refused, as a fixed phrase. The errors' own text can quote the token's
/// header, which is decoded before the signature is checked: an unauthenticated client
/// could otherwise write any text, line breaks included, into the server log.
fn refusal(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not yet valid",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::MissingAlgorithm => {
            "wrong algorithm"
        }
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) | ErrorKind::InvalidSubject => {
            "bad claims"
        }
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => "malformed",
        _ => "invalid",
    }
}

fn keys_from_pem(pem_bytes: &[u8]) -> anyhow::Result<(Algorithm, EncodingKey, DecodingKey)> {
    use aws_lc_rs::signature::KeyPair;
    let pem = pem::parse(pem_bytes).context("MUSTER_JWT_PRIVATE_KEY_FILE is not PEM")?;
    let der = pem.contents();
    if let Ok(pair) = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(der) {
        return Ok((
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(der),
            DecodingKey::from_ed_der(pair.public_key().as_ref()),
        ));
    }
    let rsa = aws_lc_rs::rsa::KeyPair::from_pkcs8(der).or_else(|_| aws_lc_rs::rsa::KeyPair::from_der(der));
    if let Ok(pair) = rsa {
        // jsonwebtoken signs RSA with a PKCS#1 key; re-encoding PKCS#8 is not needed when the
        // PEM is PKCS#1, and aws-lc accepts both through `from_rsa_pem`.
        let encoding = EncodingKey::from_rsa_pem(pem_bytes).context("RSA private key")?;
        return Ok((
            Algorithm::RS256,
            encoding,
            DecodingKey::from_rsa_der(pair.public_key().as_ref()),
        ));
    }
    bail!("MUSTER_JWT_PRIVATE_KEY_FILE must hold an Ed25519 or RSA private key (PKCS#8 or PKCS#1 PEM)")
}

/// The HS256 secret generated on first start and kept, owner-readable only, in the data
/// directory. Fine for one server; several replicas need a shared `MUSTER_JWT_SECRET`.
fn generated_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("jwt-secret");
    let engine = base64::engine::general_purpose::STANDARD;
    if let Ok(text) = std::fs::read_to_string(&path) {
        return engine
            .decode(text.trim())
            .with_context(|| format!("{} is not base64", path.display()));
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let mut secret = vec![0u8; 64];
    rand::fill(&mut secret[..]);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(engine.encode(&secret).as_bytes())?;
            file.sync_all()?;
            tracing::info!(path = %path.display(), "generated a JWT signing key");
            Ok(secret)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => generated_secret(data_dir),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}
