//! Where a webhook may post: an `http(s)` URL whose host is on the public internet. Loopback, private,
//! link-local (the cloud metadata address) and other inside addresses are refused unless
//! `webhooks.allow_private_destinations` is on, so that an admin's webhook cannot make the server call into
//! its own network.

use crate::domain::cidr::is_public;
use std::net::{IpAddr, SocketAddr};
use url::Url;

/// The URL as a webhook destination, or why not (before any address is looked up).
pub fn parse(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url.trim()).map_err(|e| format!("url is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("url must be http:// or https://".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("url has no host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("url may not carry a user name or password: the signature authenticates us".into());
    }
    Ok(parsed)
}

/// The host and the addresses it resolves to, all public; or why it may not be reached.
pub async fn public_addresses(url: &str) -> Result<(String, Vec<SocketAddr>), String> {
    let parsed = parse(url)?;
    let host = parsed.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare.as_str(), port))
            .await
            .map_err(|e| format!("{bare} cannot be resolved: {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{bare} has no address"));
    }
    if let Some(inside) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(format!(
            "{bare} is {}, not a public address: private, loopback and link-local destinations are refused \
             (an admin may allow them with webhooks.allow_private_destinations)",
            inside.ip()
        ));
    }
    Ok((bare, addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inside_addresses_are_refused_and_public_ones_pass() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.10/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://localhost/hook",
        ] {
            assert!(public_addresses(url).await.is_err(), "{url}");
        }
        assert!(public_addresses("https://93.184.215.14/hook").await.is_ok());
    }

    #[test]
    fn only_http_urls_without_credentials_are_destinations() {
        assert!(parse("ftp://example.com/x").is_err());
        assert!(parse("https://user:pw@example.com/x").is_err());
        assert!(parse("not a url").is_err());
        assert!(parse("https://example.com/hooks/switchboard").is_ok());
    }
}
