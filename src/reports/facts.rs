//! A conversation's report facts: its timeline read as the metrics the reports count, one fact per occurrence,
//! at the moment of its end event. A pure function of the timeline, so the reports job can rebuild a
//! conversation's facts whole whenever anything in it changes (late events correct the figures), and the rules
//! below are tested here, without a database.
//!
//! A conversation lives in cycles: from its creation (or a reopen) to a resolve. Per cycle:
//! - **first response**: from the cycle's first customer message to the first message a person writes after it
//!   (a conversation the business started counts from the customer's first answer). Messages of automations and
//!   AI agents are not responses. A cycle resolved with a customer message never answered gives an
//!   **unanswered** fact instead (its duration: until the resolve).
//! - **queue wait**: from entering a queue (routed to it, transferred to it, returned to it) to being assigned to
//!   an agent; one fact per wait, in the queue waited in.
//! - **handle**: from the last assignment to an agent to the resolve, for that agent.
//! - **resolution**: from the cycle's start to the resolve.
//! - **AI resolved**: resolved while with an AI agent and with no person's message in the cycle.
//! - **hand-over**: each hand-over from an AI agent to people, with its reason.
//!
//! Plus a `created` fact at creation (in the first queue it was routed to), `resolved` and `reopened` facts, and
//! `csat_sent` / `csat_rated` from its surveys. Every duration also has its business-hours variant (the open
//! seconds of the queue's schedule, else the number's), and the queue's SLA targets say whether a first
//! response or a resolution met them (counted in business hours where there is a schedule).

use crate::domain::business_hours::Hours;
use jiff::Timestamp;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Created,
    Resolved,
    Reopened,
    FirstResponse,
    Unanswered,
    Resolution,
    QueueWait,
    Handle,
    AiResolved,
    Handover,
    CsatSent,
    CsatRated,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Resolved => "resolved",
            Self::Reopened => "reopened",
            Self::FirstResponse => "first_response",
            Self::Unanswered => "unanswered",
            Self::Resolution => "resolution",
            Self::QueueWait => "queue_wait",
            Self::Handle => "handle",
            Self::AiResolved => "ai_resolved",
            Self::Handover => "handover",
            Self::CsatSent => "csat_sent",
            Self::CsatRated => "csat_rated",
        }
    }
}

/// What happened in a conversation, as the metrics need it.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A message from the customer.
    Customer,
    /// A message a person wrote (not an automation's, an AI agent's or a program's).
    Person {
        agent: Uuid,
    },
    /// Waiting in a queue: routed there, transferred there or returned there.
    Queued {
        queue: Option<Uuid>,
    },
    /// Assigned to an agent (by the router, a claim, an assignment or a transfer).
    Assigned {
        agent: Uuid,
        queue: Option<Uuid>,
    },
    /// Taken from its agent (unassigned, or not accepted in time).
    Unassigned,
    /// Given to an AI agent.
    ToAi,
    /// Handed over from an AI agent to people.
    HandedOver {
        reason: Option<String>,
    },
    Resolved,
    Reopened,
    SurveySent,
    SurveyRated {
        rating: i16,
    },
}

#[derive(Debug, Clone)]
pub struct Timeline {
    pub created_at: Timestamp,
    /// In time order (steps at the same instant in the order they were recorded).
    pub steps: Vec<(Timestamp, Step)>,
}

/// A queue's service-level targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sla {
    pub first_response_minutes: Option<i64>,
    pub resolution_hours: Option<i64>,
}

/// What the facts are measured against: schedules (per queue, and the number's) and the queues' SLA targets.
#[derive(Debug, Default)]
pub struct Rules {
    pub queue_hours: HashMap<Uuid, Hours>,
    pub number_hours: Option<Hours>,
    pub sla: HashMap<Uuid, Sla>,
}

impl Rules {
    fn hours(&self, queue: Option<Uuid>) -> Option<&Hours> {
        queue.and_then(|q| self.queue_hours.get(&q)).or(self.number_hours.as_ref())
    }

    /// A duration, and its business-hours variant.
    fn span(&self, queue: Option<Uuid>, from: Timestamp, to: Timestamp) -> (i64, i64) {
        let secs = (to.as_second() - from.as_second()).max(0);
        (secs, self.hours(queue).map_or(secs, |h| h.open_seconds(from, to)))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub metric: Metric,
    pub at: Timestamp,
    pub queue_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub secs: Option<i64>,
    pub business_secs: Option<i64>,
    pub value: Option<i16>,
    pub reason: Option<String>,
    pub sla_met: Option<bool>,
}

impl Fact {
    fn new(metric: Metric, at: Timestamp, queue_id: Option<Uuid>, agent_id: Option<Uuid>) -> Self {
        Self {
            metric,
            at,
            queue_id,
            agent_id,
            secs: None,
            business_secs: None,
            value: None,
            reason: None,
            sla_met: None,
        }
    }

    fn lasting(mut self, (secs, business): (i64, i64)) -> Self {
        self.secs = Some(secs);
        self.business_secs = Some(business);
        self
    }
}

/// The conversation's facts, in time order.
pub fn derive(t: &Timeline, rules: &Rules) -> Vec<Fact> {
    let first_queue = t.steps.iter().find_map(|(_, s)| match s {
        Step::Queued { queue: Some(q) } | Step::Assigned { queue: Some(q), .. } => Some(*q),
        _ => None,
    });
    let mut facts = vec![Fact::new(Metric::Created, t.created_at, first_queue, None)];
    let (mut queue, mut agent): (Option<Uuid>, Option<Uuid>) = (None, None);
    let mut cycle_start = t.created_at;
    let mut customer_since: Option<Timestamp> = None;
    let (mut answered, mut person_in_cycle, mut with_ai) = (false, false, false);
    let mut waiting_since: Option<Timestamp> = None;
    let mut assigned_at: Option<Timestamp> = None;
    for (at, step) in &t.steps {
        let at = *at;
        match step {
            Step::Customer => {
                if !answered && customer_since.is_none() {
                    customer_since = Some(at);
                }
            }
            Step::Person { agent: by } => {
                person_in_cycle = true;
                if let (Some(since), false) = (customer_since, answered) {
                    answered = true;
                    let mut f =
                        Fact::new(Metric::FirstResponse, at, queue, Some(*by)).lasting(rules.span(queue, since, at));
                    f.sla_met = sla(rules, queue, |s| s.first_response_minutes.map(|m| m * 60), f.business_secs);
                    facts.push(f);
                }
            }
            Step::Queued { queue: q } => {
                if q.is_some() {
                    queue = *q;
                }
                agent = None;
                assigned_at = None;
                waiting_since = Some(at);
            }
            Step::Assigned { agent: a, queue: q } => {
                if q.is_some() {
                    queue = *q;
                }
                if let Some(since) = waiting_since.take() {
                    facts.push(Fact::new(Metric::QueueWait, at, queue, Some(*a)).lasting(rules.span(queue, since, at)));
                }
                agent = Some(*a);
                assigned_at = Some(at);
                with_ai = false;
            }
            Step::Unassigned => {
                agent = None;
                assigned_at = None;
                waiting_since = Some(at);
            }
            Step::ToAi => {
                with_ai = true;
                waiting_since = None;
            }
            Step::HandedOver { reason } => {
                let mut f = Fact::new(Metric::Handover, at, queue, None);
                f.reason = reason.clone();
                facts.push(f);
                with_ai = false;
            }
            Step::Resolved => {
                facts.push(Fact::new(Metric::Resolved, at, queue, agent));
                let mut f = Fact::new(Metric::Resolution, at, queue, agent).lasting(rules.span(queue, cycle_start, at));
                f.sla_met = sla(rules, queue, |s| s.resolution_hours.map(|h| h * 3600), f.business_secs);
                facts.push(f);
                if let Some(since) = assigned_at {
                    facts.push(Fact::new(Metric::Handle, at, queue, agent).lasting(rules.span(queue, since, at)));
                }
                if let (Some(since), false) = (customer_since, answered) {
                    let mut f = Fact::new(Metric::Unanswered, at, queue, agent).lasting(rules.span(queue, since, at));
                    // Never answered: a breach wherever a first-response target applies.
                    f.sla_met =
                        queue.and_then(|q| rules.sla.get(&q)).and_then(|s| s.first_response_minutes).map(|_| false);
                    facts.push(f);
                }
                if with_ai && !person_in_cycle {
                    facts.push(Fact::new(Metric::AiResolved, at, queue, None));
                }
                waiting_since = None;
                assigned_at = None;
            }
            Step::Reopened => {
                facts.push(Fact::new(Metric::Reopened, at, queue, agent));
                cycle_start = at;
                customer_since = None;
                (answered, person_in_cycle) = (false, false);
            }
            Step::SurveySent => facts.push(Fact::new(Metric::CsatSent, at, queue, agent)),
            Step::SurveyRated { rating } => {
                let mut f = Fact::new(Metric::CsatRated, at, queue, agent);
                f.value = Some(*rating);
                facts.push(f);
            }
        }
    }
    facts
}

/// Whether a measured duration met the queue's target (`None`: the queue has none).
fn sla(
    rules: &Rules,
    queue: Option<Uuid>,
    target: impl Fn(&Sla) -> Option<i64>,
    measured: Option<i64>,
) -> Option<bool> {
    let target = queue.and_then(|q| rules.sla.get(&q)).and_then(target)?;
    Some(measured.unwrap_or(i64::MAX) <= target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::business_hours::{Day, Range, Schedule};
    use std::collections::BTreeMap;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }
    fn timeline(created: &str, steps: &[(&str, Step)]) -> Timeline {
        Timeline { created_at: at(created), steps: steps.iter().map(|(t, s)| (at(t), s.clone())).collect() }
    }
    fn only(facts: &[Fact], metric: Metric) -> Vec<&Fact> {
        facts.iter().filter(|f| f.metric == metric).collect()
    }
    const Q: u128 = 1;
    const ANA: u128 = 10;
    const BO: u128 = 11;

    /// What migration `20261205000028` writes when a conversation is inserted: its facts before any step.
    #[test]
    fn before_any_step_but_the_customers_messages_a_conversation_has_only_its_created_fact_with_no_queue_or_agent() {
        let created = "2026-12-01T09:00:00Z";
        let expected = vec![Fact::new(Metric::Created, at(created), None, None)];
        assert_eq!(derive(&timeline(created, &[]), &Rules::default()), expected);
        let customer_only =
            timeline(created, &[("2026-12-01T09:00:00Z", Step::Customer), ("2026-12-01T09:05:00Z", Step::Customer)]);
        assert_eq!(derive(&customer_only, &Rules::default()), expected);
    }

    #[test]
    fn the_first_response_runs_from_the_customers_first_message_to_the_first_persons_message() {
        let t = timeline(
            "2026-12-01T09:00:00Z",
            &[
                ("2026-12-01T09:00:00Z", Step::Customer),
                ("2026-12-01T09:00:01Z", Step::Queued { queue: Some(id(Q)) }),
                ("2026-12-01T09:01:00Z", Step::Customer),
                ("2026-12-01T09:04:00Z", Step::Assigned { agent: id(ANA), queue: None }),
                ("2026-12-01T09:05:00Z", Step::Person { agent: id(ANA) }),
                ("2026-12-01T09:06:00Z", Step::Person { agent: id(ANA) }),
            ],
        );
        let facts = derive(&t, &Rules::default());
        let frt = only(&facts, Metric::FirstResponse);
        assert_eq!(frt.len(), 1, "one first response per cycle");
        assert_eq!((frt[0].secs, frt[0].agent_id, frt[0].queue_id), (Some(300), Some(id(ANA)), Some(id(Q))));
        let wait = only(&facts, Metric::QueueWait);
        assert_eq!((wait[0].secs, wait[0].at), (Some(239), at("2026-12-01T09:04:00Z")));
        assert_eq!(only(&facts, Metric::Created)[0].queue_id, Some(id(Q)), "created counts in its first queue");
    }

    #[test]
    fn automations_and_ai_agents_do_not_respond_and_an_ai_only_resolve_counts_as_ai_resolved() {
        let t = timeline(
            "2026-12-01T09:00:00Z",
            &[
                ("2026-12-01T09:00:00Z", Step::Customer),
                ("2026-12-01T09:00:01Z", Step::ToAi),
                ("2026-12-01T09:10:00Z", Step::Resolved),
            ],
        );
        let facts = derive(&t, &Rules::default());
        assert!(only(&facts, Metric::FirstResponse).is_empty());
        assert_eq!(only(&facts, Metric::AiResolved).len(), 1);
        assert_eq!(only(&facts, Metric::Unanswered)[0].secs, Some(600), "no person answered before the resolve");
    }

    #[test]
    fn a_hand_over_is_counted_with_its_reason_and_the_people_after_it_respond() {
        let t = timeline(
            "2026-12-01T09:00:00Z",
            &[
                ("2026-12-01T09:00:00Z", Step::Customer),
                ("2026-12-01T09:00:01Z", Step::ToAi),
                ("2026-12-01T09:02:00Z", Step::HandedOver { reason: Some("customer_asked".into()) }),
                ("2026-12-01T09:02:00Z", Step::Queued { queue: Some(id(Q)) }),
                ("2026-12-01T09:03:00Z", Step::Assigned { agent: id(BO), queue: None }),
                ("2026-12-01T09:04:00Z", Step::Person { agent: id(BO) }),
                ("2026-12-01T09:30:00Z", Step::Resolved),
            ],
        );
        let facts = derive(&t, &Rules::default());
        assert_eq!(only(&facts, Metric::Handover)[0].reason.as_deref(), Some("customer_asked"));
        assert_eq!(only(&facts, Metric::FirstResponse)[0].secs, Some(240));
        assert!(only(&facts, Metric::AiResolved).is_empty());
        assert_eq!(only(&facts, Metric::Handle)[0].secs, Some(27 * 60), "from the assignment to the resolve");
        assert_eq!(only(&facts, Metric::Resolution)[0].secs, Some(30 * 60));
    }

    #[test]
    fn a_transfer_ends_one_agents_handle_and_a_reopen_starts_a_new_cycle() {
        let t = timeline(
            "2026-12-01T09:00:00Z",
            &[
                ("2026-12-01T09:00:00Z", Step::Customer),
                ("2026-12-01T09:01:00Z", Step::Assigned { agent: id(ANA), queue: Some(id(Q)) }),
                ("2026-12-01T09:02:00Z", Step::Person { agent: id(ANA) }),
                ("2026-12-01T09:10:00Z", Step::Assigned { agent: id(BO), queue: None }),
                ("2026-12-01T09:20:00Z", Step::Resolved),
                ("2026-12-01T10:00:00Z", Step::Reopened),
                ("2026-12-01T10:05:00Z", Step::Customer),
                ("2026-12-01T10:06:00Z", Step::Person { agent: id(BO) }),
                ("2026-12-01T11:00:00Z", Step::Resolved),
            ],
        );
        let facts = derive(&t, &Rules::default());
        let handle = only(&facts, Metric::Handle);
        assert_eq!((handle[0].agent_id, handle[0].secs), (Some(id(BO)), Some(600)), "the last assignment handles it");
        let frt: Vec<_> = only(&facts, Metric::FirstResponse).iter().map(|f| f.secs).collect();
        assert_eq!(frt, [Some(120), Some(60)], "each cycle has its first response");
        let resolution: Vec<_> = only(&facts, Metric::Resolution).iter().map(|f| f.secs).collect();
        assert_eq!(resolution, [Some(1200), Some(3600)], "the second cycle runs from the reopen");
        assert_eq!(only(&facts, Metric::Reopened).len(), 1);
    }

    #[test]
    fn durations_have_a_business_hours_variant_and_the_queues_targets_say_whether_they_were_met() {
        let mut weekly = BTreeMap::new();
        weekly.insert(Day::Tuesday, vec![Range { open: "09:00".into(), close: "17:00".into() }]);
        let hours = Schedule { time_zone: "Europe/Amsterdam".into(), weekly, holidays: vec![] }.check().unwrap();
        let mut rules = Rules::default();
        rules.queue_hours.insert(id(Q), hours);
        rules.sla.insert(id(Q), Sla { first_response_minutes: Some(30), resolution_hours: Some(1) });
        // Monday 2026-11-30 at 20:00 local; answered Tuesday at 09:20 local; resolved at 10:30 local.
        let t = timeline(
            "2026-11-30T19:00:00Z",
            &[
                ("2026-11-30T19:00:00Z", Step::Customer),
                ("2026-11-30T19:00:00Z", Step::Queued { queue: Some(id(Q)) }),
                ("2026-12-01T08:20:00Z", Step::Person { agent: id(ANA) }),
                ("2026-12-01T09:30:00Z", Step::Resolved),
            ],
        );
        let facts = derive(&t, &rules);
        let frt = only(&facts, Metric::FirstResponse)[0];
        assert_eq!((frt.secs, frt.business_secs, frt.sla_met), (Some(13 * 3600 + 1200), Some(1200), Some(true)));
        let res = only(&facts, Metric::Resolution)[0];
        assert_eq!((res.business_secs, res.sla_met), (Some(5400), Some(false)), "90 open minutes is over an hour");
    }
}
