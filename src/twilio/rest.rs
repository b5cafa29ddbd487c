//! Twilio's REST API, as far as Switchboard uses it so far: checking that credentials work.
//!
//! Errors come back as `{"code": 20003, "message": "Authenticate", "more_info": …, "status": 401}`; the code is
//! the stable key.

use crate::domain::AccountSid;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use url::Url;

#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    api_base: Url,
}

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// Twilio answered with an error: its HTTP status, code and message.
    #[error("Twilio answered {status} (error {code:?}): {message}")]
    Twilio { status: u16, code: Option<i64>, message: String },
    #[error("Twilio could not be reached: {0}")]
    Unreachable(String),
}

impl RestClient {
    pub fn new(api_base: Url) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, api_base })
    }

    /// Fetches the account with these credentials (`GET /2010-04-01/Accounts/{sid}.json`): Ok if they work.
    pub async fn check_credentials(
        &self,
        account: &AccountSid,
        username: &str,
        password: &SecretString,
    ) -> Result<(), RestError> {
        let url = self
            .api_base
            .join(&format!("/2010-04-01/Accounts/{}.json", account.as_str()))
            .map_err(|e| RestError::Unreachable(e.to_string()))?;
        let response = self
            .http
            .get(url)
            .basic_auth(username, Some(password.expose_secret()))
            .send()
            .await
            .map_err(|e| RestError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        Err(RestError::Twilio {
            status: status.as_u16(),
            code: body["code"].as_i64(),
            message: body["message"].as_str().unwrap_or("no message").to_owned(),
        })
    }
}
