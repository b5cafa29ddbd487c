//! Downloading inbound media from Twilio.
//!
//! `MediaUrl{N}` points at Twilio's API host (`/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…`), which answers
//! with a redirect to a short-lived CDN URL. Accounts with "HTTP Basic auth for media" need credentials on the
//! first request. The credentials go only to a URL on the configured Twilio API host under the channel's own
//! account path, and never to wherever a redirect points: redirects are followed here, hop by hop, and each hop
//! decides afresh whether it may carry them. The body is streamed into the file store (`storage`) and cut off at
//! the configured size limit; the key holds the file only once it is complete.
//!
//! What may be fetched at all (a signed webhook's `MediaUrl` is still only what the sender wrote): the first
//! request goes only to the configured Twilio API origin (or, with the built-in sandbox on, to this server, where
//! the sandbox serves its customers' media as Twilio would: `MediaFetcher::with_sandbox`); a redirect is followed only to a host whose every
//! address is public (not loopback, private, link-local, the cloud metadata address, …), checked after DNS
//! resolution and then connected to at exactly the addresses checked, so a name that resolves differently a
//! moment later cannot reach the inside. `media.allow_private_redirects` lifts the redirect rule for setups whose
//! media CDN is on a private network (and for tests).

pub use super::BasicAuth;
use crate::domain::AccountSid;
use crate::storage::{PutError, Storage};
use reqwest::{header, StatusCode, Url};
use secrecy::ExposeSecret;
use std::time::Duration;

const MAX_REDIRECTS: usize = 5;

/// What was downloaded.
#[derive(Debug, Clone)]
pub struct Downloaded {
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// Worth trying again later: a timeout, a dropped connection, 429 or a server error.
    #[error("{0}")]
    Retryable(String),
    /// Will not succeed by trying again: too large, refused, not found.
    #[error("{0}")]
    Permanent(String),
}

/// Fetches media with the rules above. Cheap to clone (the HTTP client is shared).
#[derive(Clone)]
pub struct MediaFetcher {
    client: reqwest::Client,
    api_base: Url,
    /// This server, when the sandbox is on ([`MediaFetcher::with_sandbox`]).
    sandbox_base: Option<Url>,
    max_bytes: u64,
    timeout: Duration,
    allow_private_redirects: bool,
}

impl MediaFetcher {
    pub fn new(
        api_base: Url,
        max_bytes: u64,
        timeout: Duration,
        allow_private_redirects: bool,
    ) -> anyhow::Result<Self> {
        let client = Self::builder(timeout).build()?;
        Ok(Self { client, api_base, sandbox_base: None, max_bytes, timeout, allow_private_redirects })
    }

    /// Where the built-in sandbox serves its customers' media (this server): a sandbox account's media is fetched
    /// from there, as its REST calls go there (`twilio::rest`).
    pub fn with_sandbox(mut self, base: Url) -> Self {
        self.sandbox_base = Some(base);
        self
    }

    fn builder(timeout: Duration) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
    }

    /// On Twilio's API host, or on this server where the built-in sandbox serves its customers' media.
    fn same_origin_as_api(&self, url: &Url) -> bool {
        let same = |base: &Url| {
            url.scheme() == base.scheme()
                && url.host_str() == base.host_str()
                && url.port_or_known_default() == base.port_or_known_default()
        };
        same(&self.api_base) || self.sandbox_base.as_ref().is_some_and(same)
    }

    /// The client for a redirect hop: the host must resolve to public addresses only, and the connection goes to
    /// exactly those.
    async fn client_for_redirect(&self, url: &Url) -> Result<reqwest::Client, DownloadError> {
        if self.allow_private_redirects {
            return Ok(self.client.clone());
        }
        let refused = |why: String| DownloadError::Permanent(format!("media redirect refused: {why}"));
        let host = url.host_str().ok_or_else(|| refused("no host".into()))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<std::net::SocketAddr> = match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| DownloadError::Retryable(format!("cannot resolve the media host: {e}")))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(refused(format!("{host} has no address")));
        }
        if let Some(inside) = addrs.iter().find(|a| !crate::domain::cidr::is_public(a.ip())) {
            return Err(refused(format!("{host} resolves to {}, which is not a public address", inside.ip())));
        }
        Self::builder(self.timeout)
            .resolve_to_addrs(bare, &addrs)
            .build()
            .map_err(|e| DownloadError::Retryable(format!("cannot make an HTTP client: {e}")))
    }

    /// Whether `url` is media of `account` on Twilio's API host, the only place credentials may be sent.
    pub fn is_account_media_url(&self, url: &Url, account: &AccountSid) -> bool {
        let same_origin = self.same_origin_as_api(url);
        let prefix = format!("/2010-04-01/Accounts/{}/Messages/", account.as_str());
        same_origin && url.path().starts_with(&prefix) && url.path().contains("/Media/")
    }

    /// Downloads `url` into `storage` at `key`.
    pub async fn download(
        &self,
        url: &str,
        account: &AccountSid,
        auth: &BasicAuth,
        storage: &Storage,
        key: &str,
    ) -> Result<Downloaded, DownloadError> {
        let mut current =
            Url::parse(url).map_err(|e| DownloadError::Permanent(format!("media URL is not a URL: {e}")))?;
        if !self.same_origin_as_api(&current) {
            return Err(DownloadError::Permanent(format!(
                "media URL is not on Twilio's API host ({}): not fetched",
                self.api_base.host_str().unwrap_or("")
            )));
        }
        for hop in 0..=MAX_REDIRECTS {
            if !matches!(current.scheme(), "http" | "https") {
                return Err(DownloadError::Permanent("media URL must be http or https".into()));
            }
            let client = if hop == 0 { self.client.clone() } else { self.client_for_redirect(&current).await? };
            let mut request = client.get(current.clone());
            if self.is_account_media_url(&current, account) {
                request = request.basic_auth(&auth.username, Some(auth.password.expose_secret()));
            }
            let response = request
                .send()
                .await
                .map_err(|e| DownloadError::Retryable(format!("request failed: {}", without_url(&e))))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| DownloadError::Permanent(format!("{status} without a Location header")))?;
                current = current
                    .join(location)
                    .map_err(|e| DownloadError::Permanent(format!("redirect to an invalid URL: {e}")))?;
                continue;
            }
            if !status.is_success() {
                let message = format!("media host answered {status}");
                return Err(if is_transient(status) {
                    DownloadError::Retryable(message)
                } else {
                    DownloadError::Permanent(message)
                });
            }
            return self.save(response, storage, key).await;
        }
        Err(DownloadError::Permanent(format!("more than {MAX_REDIRECTS} redirects")))
    }

    async fn save(
        &self,
        response: reqwest::Response,
        storage: &Storage,
        key: &str,
    ) -> Result<Downloaded, DownloadError> {
        if response.content_length().is_some_and(|len| len > self.max_bytes) {
            return Err(self.too_large());
        }
        let content_type = header_text(&response, header::CONTENT_TYPE);
        let filename = header_text(&response, header::CONTENT_DISPOSITION).and_then(|d| filename_from_disposition(&d));
        let stored = storage.put(key, response.bytes_stream(), self.max_bytes).await.map_err(|e| match e {
            PutError::TooLarge { .. } => self.too_large(),
            PutError::Source(e) => DownloadError::Retryable(format!("download interrupted: {}", without_url(&e))),
            PutError::Store(e) => DownloadError::Retryable(format!("cannot store media file: {e}")),
        })?;
        Ok(Downloaded { content_type, filename, size: stored.size, sha256: stored.sha256 })
    }

    fn too_large(&self) -> DownloadError {
        DownloadError::Permanent(format!(
            "media is larger than the configured limit of {} bytes (media.max_bytes)",
            self.max_bytes
        ))
    }
}

fn is_transient(status: StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429)
}

fn header_text(response: &reqwest::Response, name: header::HeaderName) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// reqwest errors print the URL, which for a CDN redirect carries a pre-signed token: keep it out of logs.
fn without_url(e: &reqwest::Error) -> String {
    let mut e = e.to_string();
    if let Some(i) = e.find(" for url (") {
        e.truncate(i);
    }
    e
}

fn filename_from_disposition(disposition: &str) -> Option<String> {
    disposition.split(';').map(str::trim).find_map(|part| {
        let value = part.strip_prefix("filename=")?;
        let name = value.trim_matches('"');
        // Only the last path component, so a stored name can never point elsewhere.
        let name = name.rsplit(['/', '\\']).next().unwrap_or(name);
        (!name.is_empty()).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher() -> MediaFetcher {
        MediaFetcher::new(Url::parse("https://api.twilio.com").unwrap(), 1024, Duration::from_secs(5), false).unwrap()
    }

    #[test]
    fn credentials_go_only_to_the_accounts_media_on_twilios_host() {
        let f = fetcher();
        let ac = AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap();
        let ok = Url::parse(
            "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM1/Media/ME1",
        )
        .unwrap();
        assert!(f.is_account_media_url(&ok, &ac));
        for bad in [
            "https://api.twilio.com/2010-04-01/Accounts/AC9999999999abcdef0123456789abcdef/Messages/MM1/Media/ME1",
            "http://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM1/Media/ME1",
            "https://api.twilio.com.evil.example/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM1/Media/ME1",
            "https://media.twiliocdn.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM1/Media/ME1",
            "https://api.twilio.com:8443/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM1/Media/ME1",
            "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls/CA1",
        ] {
            assert!(!f.is_account_media_url(&Url::parse(bad).unwrap(), &ac), "{bad}");
        }
    }

    #[test]
    fn filenames_are_reduced_to_their_last_component() {
        assert_eq!(filename_from_disposition("attachment; filename=\"photo.jpg\"").as_deref(), Some("photo.jpg"));
        assert_eq!(filename_from_disposition("inline; filename=../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(filename_from_disposition("inline"), None);
    }
}
