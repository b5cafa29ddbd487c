//! WhatsApp's messaging limit as every business-initiated sender meets it (an agent's template start, a
//! notification): the number's tier read where the message is composed, the customers reserved under its cap
//! ([`crate::store::reach`]), and the reservation given back when what it was for is not sent.

use super::policy::{Refusal, SendError};
use crate::domain::opt_in::Tier;
use crate::store::reach::{self, Reserved};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Customers reserved on a number: [`Reservation::release`] them if the transaction that sends to them does not
/// commit.
#[must_use = "release the reservation if the sending transaction does not commit"]
#[derive(Debug, Default)]
pub struct Reservation {
    number_id: Uuid,
    reserved: Vec<Reserved>,
    /// The number has no cap: everyone is let through, nothing is reserved.
    uncapped: bool,
}

impl Reservation {
    pub async fn release(self, pool: &PgPool) {
        if let Err(e) = reach::release(pool, self.number_id, &self.reserved).await {
            tracing::warn!(error = %e, number = %self.number_id, "cannot give back a messaging-limit reservation; it counts until it leaves the window");
        }
    }

    /// Whether the customer may be written to: reserved, or the number has no cap.
    pub fn holds(&self, contact_id: Uuid) -> bool {
        self.uncapped || self.reserved.iter().any(|r| r.contact_id == contact_id)
    }

    /// Keeps only the customers `keep` accepts; answers the rest, to be released.
    pub fn split(self, keep: impl Fn(Uuid) -> bool) -> (Reservation, Reservation) {
        let (kept, rest) = self.reserved.into_iter().partition(|r| keep(r.contact_id));
        let part = |reserved| Reservation { number_id: self.number_id, reserved, uncapped: self.uncapped };
        (part(kept), part(rest))
    }
}

/// Reserves the customers who count (business-initiated messages) under the tier's cap: answers the reservation
/// and, if some did not fit, how long until a place frees up.
pub async fn reserve(
    pool: &PgPool,
    number_id: Uuid,
    tier: Tier,
    contacts: &[Uuid],
) -> sqlx::Result<(Reservation, Option<std::time::Duration>)> {
    let Some(cap) = tier.cap() else { return Ok((Reservation { number_id, reserved: vec![], uncapped: true }, None)) };
    if contacts.is_empty() {
        return Ok((Reservation { number_id, reserved: vec![], uncapped: false }, None));
    }
    let (reserved, retry_after) = reach::reserve(pool, number_id, cap, contacts).await?;
    Ok((Reservation { number_id, reserved, uncapped: false }, retry_after))
}

/// [`reserve`] for one customer: the refusal says when to try again.
pub async fn reserve_one(
    pool: &PgPool,
    conn: &mut PgConnection,
    number_id: Uuid,
    contact_id: Uuid,
) -> Result<Reservation, SendError> {
    let tier = reach::tier(conn, number_id).await?;
    let (reservation, retry_after) = reserve(pool, number_id, tier, &[contact_id]).await?;
    match retry_after {
        Some(wait) if !reservation.holds(contact_id) => {
            Err(Refusal::MessagingLimitReached { cap: tier.cap().unwrap_or_default(), retry_after: wait }.into())
        }
        _ => Ok(reservation),
    }
}
