//! A WhatsApp number's business profile and its language, checked against WhatsApp's limits (Meta's Business
//! Profile API: about/description ≤ 512 characters, address ≤ 256, e-mail ≤ 128, at most 2 websites of ≤ 256,
//! a vertical from Meta's list).

use super::Invalid;
use serde::{Deserialize, Serialize};

pub const VERTICALS: &[&str] = &[
    "UNDEFINED",
    "OTHER",
    "AUTO",
    "BEAUTY",
    "APPAREL",
    "EDU",
    "ENTERTAIN",
    "EVENT_PLAN",
    "FINANCE",
    "GROCERY",
    "GOVT",
    "HOTEL",
    "HEALTH",
    "NONPROFIT",
    "PROF_SERVICES",
    "RETAIL",
    "TRAVEL",
    "RESTAURANT",
    "NOT_A_BIZ",
];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessProfile {
    pub display_name: Option<String>,
    pub brand: Option<String>,
    pub picture_url: Option<String>,
    pub description: Option<String>,
    pub address: Option<String>,
    pub email: Option<String>,
    pub industry: Option<String>,
    #[serde(default)]
    pub websites: Vec<String>,
}

fn too_long(field: &str, value: &Option<String>, max: usize) -> Option<Invalid> {
    let v = value.as_ref()?;
    (v.chars().count() > max).then(|| Invalid {
        field: format!("profile.{field}"),
        message: format!("{field} has at most {max} characters on WhatsApp"),
    })
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

impl BusinessProfile {
    pub fn check(&self) -> Result<(), Invalid> {
        let err = |field: &str, message: &str| {
            Err(Invalid { field: format!("profile.{field}"), message: message.to_owned() })
        };
        let lengths = [
            too_long("display_name", &self.display_name, 100),
            too_long("brand", &self.brand, 100),
            too_long("description", &self.description, 512),
            too_long("address", &self.address, 256),
            too_long("email", &self.email, 128),
        ];
        if let Some(e) = lengths.into_iter().flatten().next() {
            return Err(e);
        }
        if let Some(name) = &self.display_name {
            if name.trim().chars().count() < 3 {
                return err("display_name", "display_name needs at least 3 characters");
            }
        }
        if let Some(email) = &self.email {
            let ok = email
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !email.contains(char::is_whitespace));
            if !ok {
                return err("email", "email is not an e-mail address");
            }
        }
        if let Some(url) = &self.picture_url {
            if !url.starts_with("https://") || !is_http_url(url) {
                return err("picture_url", "picture_url must be an https:// URL");
            }
        }
        if let Some(industry) = &self.industry {
            if !VERTICALS.contains(&industry.as_str()) {
                return err("industry", &format!("industry must be one of {}", VERTICALS.join(", ")));
            }
        }
        if self.websites.len() > 2 {
            return err("websites", "WhatsApp shows at most 2 websites");
        }
        for (i, site) in self.websites.iter().enumerate() {
            if site.chars().count() > 256 || !is_http_url(site) {
                return Err(Invalid {
                    field: format!("profile.websites[{i}]"),
                    message: "each website must be an http(s) URL of at most 256 characters".into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_profile_within_the_limits_passes() {
        let p = BusinessProfile {
            display_name: Some("Acme Support".into()),
            brand: Some("Acme".into()),
            picture_url: Some("https://cdn.example.com/logo.png".into()),
            description: Some("We answer within the hour.".into()),
            address: Some("Dam 1, Amsterdam".into()),
            email: Some("help@acme.example".into()),
            industry: Some("RETAIL".into()),
            websites: vec!["https://acme.example".into(), "https://shop.acme.example".into()],
        };
        assert_eq!(p.check(), Ok(()));
    }

    #[test]
    fn each_limit_names_its_field() {
        let field = |p: BusinessProfile| p.check().unwrap_err().field;
        assert_eq!(
            field(BusinessProfile { description: Some("x".repeat(513)), ..Default::default() }),
            "profile.description"
        );
        assert_eq!(field(BusinessProfile { address: Some("x".repeat(257)), ..Default::default() }), "profile.address");
        assert_eq!(
            field(BusinessProfile { email: Some("not-an-email".into()), ..Default::default() }),
            "profile.email"
        );
        assert_eq!(field(BusinessProfile { industry: Some("SPACE".into()), ..Default::default() }), "profile.industry");
        assert_eq!(
            field(BusinessProfile { picture_url: Some("http://x.example/a.png".into()), ..Default::default() }),
            "profile.picture_url"
        );
        assert_eq!(
            field(BusinessProfile { websites: vec!["https://a.example".into(); 3], ..Default::default() }),
            "profile.websites"
        );
        assert_eq!(
            field(BusinessProfile { websites: vec!["ftp://a.example".into()], ..Default::default() }),
            "profile.websites[0]"
        );
        assert_eq!(
            field(BusinessProfile { display_name: Some("A".into()), ..Default::default() }),
            "profile.display_name"
        );
    }
}
