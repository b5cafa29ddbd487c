//! Settings that may be left empty: an empty or blank value (as `config/default.toml` and environment
//! variables write "not set") reads as `None`; anything else must parse, or start-up stops naming the setting.

use secrecy::SecretString;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use url::Url;

pub(super) fn optional_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Ok(None);
    }
    Url::parse(s.trim()).map(Some).map_err(|e| serde::de::Error::custom(format!("not a URL ({e})")))
}

pub(super) fn optional_socket<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Ok(None);
    }
    s.trim()
        .parse()
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("not an address such as 127.0.0.1:9090 ({e})")))
}

pub(super) fn optional_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let s = String::deserialize(d)?;
    Ok((!s.trim().is_empty()).then(|| SecretString::from(s.trim().to_owned())))
}

pub(super) fn optional_path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let s = String::deserialize(d)?;
    Ok((!s.trim().is_empty()).then(|| PathBuf::from(s.trim())))
}
