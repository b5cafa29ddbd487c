//! Placing one conversation: deciding its target and taking an agent, inside the caller's transaction (which
//! holds the conversation's row lock). Used by the router and by the API's manual actions alike; the router
//! plans a whole claimed batch ([`plan`]) and writes the placements that took no agent in one statement
//! ([`write_all`]).

use super::config::{QueueConfig, RoutingConfig};
use super::hours_open;
use super::rules::{self, Decision, Env, Facts, NumberRouting, Target, Via};
use super::select::{self, Candidate, Requirements, Strategy};
use crate::store::audit::Actor;
use crate::store::routing::{self as db, Opening, Placement, Routable};
use jiff::Timestamp;
use serde_json::json;
use sqlx::PgConnection;
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// A queue's members as loaded once per transaction, kept up to date with the assignments made in it.
#[derive(Default)]
pub struct Members {
    by_queue: HashMap<Uuid, Vec<Candidate>>,
}

impl Members {
    async fn of(&mut self, conn: &mut PgConnection, queue: Uuid) -> sqlx::Result<&mut Vec<Candidate>> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.by_queue.entry(queue) {
            slot.insert(db::candidates(conn, queue).await?);
        }
        Ok(self.by_queue.get_mut(&queue).expect("just inserted"))
    }

    /// The agent took one more conversation (in every queue they are in).
    fn took(&mut self, agent: Uuid, queue: Option<Uuid>) {
        let now = Some(OffsetDateTime::now_utc());
        for (q, members) in &mut self.by_queue {
            for c in members.iter_mut().filter(|c| c.id == agent) {
                c.load += 1;
                c.last_assigned_at = now;
                if Some(*q) == queue {
                    c.turn_at = now;
                }
            }
        }
    }

    /// The agent could not be taken (went offline, filled up elsewhere): not offered again in this transaction.
    fn unavailable(&mut self, agent: Uuid) {
        for members in self.by_queue.values_mut() {
            for c in members.iter_mut().filter(|c| c.id == agent) {
                c.available = false;
            }
        }
    }

    /// Whether anyone in the queue could take a conversation that asks for nothing special.
    pub async fn anyone_free(&mut self, conn: &mut PgConnection, q: &QueueConfig) -> sqlx::Result<bool> {
        let req = Requirements { skills: &q.required_skills, language: None, preferred: None };
        Ok(self.of(conn, q.id).await?.iter().any(|c| select::eligible(c, &req)))
    }
}

/// What a conversation brings to a queue's selection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seeker<'a> {
    pub language: Option<&'a str>,
    pub last_agent: Option<Uuid>,
    /// Not offered to this agent (the one transferring it away).
    pub exclude: Option<Uuid>,
}

/// Takes the best eligible member of `q` for the conversation, if any can take it now.
pub async fn take_from_queue(
    conn: &mut PgConnection,
    members: &mut Members,
    q: &QueueConfig,
    seeker: Seeker<'_>,
) -> sqlx::Result<Option<Uuid>> {
    loop {
        let req = Requirements {
            skills: &q.required_skills,
            language: if q.match_language { seeker.language } else { None },
            preferred: if q.prefer_last_agent { seeker.last_agent } else { None },
        };
        let list = members.of(conn, q.id).await?;
        let ranked = select::rank(q.strategy, list, &req);
        let Some(agent) = ranked.iter().map(|&i| list[i].id).find(|id| Some(*id) != seeker.exclude) else {
            return Ok(None);
        };
        let turn_in = (q.strategy == Strategy::RoundRobin).then_some(q.id);
        if db::take_agent_turn(conn, agent, false, turn_in).await? {
            members.took(agent, Some(q.id));
            return Ok(Some(agent));
        }
        members.unavailable(agent);
    }
}

/// Timeline events waiting to be written with a placement: `(kind, data)`.
pub type Events = Vec<(&'static str, serde_json::Value)>;

/// Follows `target` to a placement: a queue that is closed routes on (out-of-hours target) or waits; an open
/// queue gives the conversation to an eligible agent or keeps it waiting; a named agent takes it or it waits
/// for them. Agents are taken here; the steps' timeline events are added to `events`, and the placement itself
/// is written by [`settle`].
pub async fn follow(
    conn: &mut PgConnection,
    cfg: &RoutingConfig,
    members: &mut Members,
    mut target: Option<Target>,
    seeker: Seeker<'_>,
    events: &mut Events,
) -> sqlx::Result<Placement> {
    let now = Timestamp::now();
    // Out-of-hours targets may chain (a closed queue routing to another closed queue); a few hops at most.
    let mut hops = 0;
    loop {
        match target {
            None => return Ok(Placement::Unowned),
            Some(Target::AiAgent(ai)) => return Ok(Placement::Ai(ai)),
            Some(Target::Agent(agent)) => {
                if Some(agent) != seeker.exclude && db::take_agent(conn, agent, false).await? {
                    members.took(agent, None);
                    return Ok(Placement::Assigned { agent, queue: None });
                }
                return Ok(Placement::Waiting { queue: None, agent: Some(agent) });
            }
            Some(Target::Queue(id)) => {
                let Some(q) = cfg.queue(id) else {
                    tracing::warn!(queue = %id, "routing target is a deleted queue; the conversation has no owner");
                    return Ok(Placement::Unowned);
                };
                if hours_open(&cfg.hours, q.business_hours_id, now) {
                    return Ok(match take_from_queue(conn, members, q, seeker).await? {
                        Some(agent) => Placement::Assigned { agent, queue: Some(q.id) },
                        None => Placement::Waiting { queue: Some(q.id), agent: None },
                    });
                }
                match q.outside_hours_target {
                    Some(next) if hops < 3 => {
                        hops += 1;
                        let to = target_json(next);
                        events.push(("outside_hours", json!({"queue_id": q.id, "queue_name": q.name, "to": to})));
                        target = Some(next);
                    }
                    _ => return Ok(Placement::Waiting { queue: Some(q.id), agent: None }),
                }
            }
        }
    }
}

/// Writes the placement with its timeline event, after `events` (what led to it), in one statement.
pub async fn settle(
    conn: &mut PgConnection,
    conversation: Uuid,
    placement: Placement,
    rule: Option<Uuid>,
    actor: &Actor,
    events: Events,
) -> sqlx::Result<()> {
    write_all(conn, &[Plan::new(conversation, placement, rule, events)], actor).await
}

/// A conversation's placement as decided (its agent, if any, already taken), not yet written.
#[derive(Debug)]
pub struct Plan {
    pub conversation: Uuid,
    pub placement: Placement,
    pub rule: Option<Uuid>,
    /// What led to the placement, then the placement's own event.
    events: Events,
}

impl Plan {
    fn new(conversation: Uuid, placement: Placement, rule: Option<Uuid>, mut events: Events) -> Self {
        events.push(placement_event(placement));
        Self { conversation, placement, rule, events }
    }

    /// An agent was taken for it: its write must come before the next take (the write raises the agent's load,
    /// which the next take's capacity guard reads).
    pub fn took_agent(&self) -> bool {
        matches!(self.placement, Placement::Assigned { .. })
    }
}

/// Writes the plans (one per conversation) with their timeline events, in one statement.
pub async fn write_all(conn: &mut PgConnection, plans: &[Plan], actor: &Actor) -> sqlx::Result<()> {
    let settled: Vec<db::Settled<'_>> = plans
        .iter()
        .map(|p| db::Settled { conversation: p.conversation, placement: p.placement, rule: p.rule, events: &p.events })
        .collect();
    db::write_placements(conn, &settled, actor).await
}

/// The placement's own timeline event, the last of those that led to it.
fn placement_event(placement: Placement) -> (&'static str, serde_json::Value) {
    match placement {
        Placement::Assigned { agent, queue } => ("assigned", json!({"agent_id": agent, "queue_id": queue})),
        Placement::Waiting { queue: Some(q), .. } => ("queued", json!({"queue_id": q})),
        Placement::Waiting { agent, .. } => ("waiting_for_agent", json!({"agent_id": agent})),
        Placement::Ai(ai) => ("ai_agent", json!({"ai_agent_id": ai})),
        Placement::Unowned => ("unowned", json!({})),
        Placement::Blocked => ("blocked", json!({})),
    }
}

pub fn target_json(t: Target) -> serde_json::Value {
    match t {
        Target::Queue(q) => json!({"type": "queue", "queue_id": q}),
        Target::AiAgent(ai) => json!({"type": "ai_agent", "ai_agent_id": ai}),
        Target::Agent(a) => json!({"type": "agent", "agent_id": a}),
    }
}

/// The facts rules look at, from a stored conversation.
pub fn facts(r: &Routable, cfg: &RoutingConfig) -> Facts {
    Facts {
        channel_id: r.channel_id,
        number_id: r.number_id,
        communication_type: r.communication_type,
        language: r.language.clone(),
        text: r.first_text.clone().unwrap_or_default(),
        button_payload: r.first_button_payload.clone().filter(|p| !p.is_empty()),
        attributes: r.attributes.0.clone(),
        tags: r.tags.clone(),
        returning: r.returning,
        number_hours_id: cfg.numbers.get(&r.number_id).and_then(|n| n.business_hours_id),
    }
}

/// The order of assignment for one conversation (its row locked by the caller), written with its events after
/// `before` (what led to it, e.g. a hand-over).
pub async fn route(
    conn: &mut PgConnection,
    cfg: &RoutingConfig,
    members: &mut Members,
    r: &Routable,
    actor: &Actor,
    events: Events,
) -> sqlx::Result<Placement> {
    let plan = plan(conn, cfg, members, r, events).await?;
    write_all(conn, std::slice::from_ref(&plan), actor).await?;
    Ok(plan.placement)
}

/// Decides where one conversation (its row locked by the caller) goes and takes its agent, without writing the
/// placement: the router plans a whole claimed batch and writes the placements that took no agent together with
/// [`write_all`] ([`Plan::took_agent`]).
pub async fn plan(
    conn: &mut PgConnection,
    cfg: &RoutingConfig,
    members: &mut Members,
    r: &Routable,
    mut events: Events,
) -> sqlx::Result<Plan> {
    if r.blocked {
        return Ok(Plan::new(r.id, Placement::Blocked, None, events));
    }
    let Decision { target, via } = decide(cfg, &facts(r, cfg), r.ai_done, Timestamp::now());
    let (rule, routed) = routed_event(cfg, target, via);
    let seeker = Seeker { language: r.language.as_deref(), last_agent: r.last_agent_id, exclude: None };
    events.push(routed);
    let placement = follow(conn, cfg, members, target, seeker, &mut events).await?;
    Ok(Plan::new(r.id, placement, rule, events))
}

/// The order of assignment for a conversation with these facts: the first matching rule, else the number's AI
/// agent (unless it is done with the conversation), else its default queue ([`rules::decide`]).
fn decide(cfg: &RoutingConfig, facts: &Facts, ai_done: bool, now: Timestamp) -> Decision {
    let env = Env { now, hours: &cfg.hours };
    let number: NumberRouting = cfg.numbers.get(&facts.number_id).map(|n| n.routing).unwrap_or_default();
    let rules = cfg.rules_for(facts.channel_id);
    rules::decide(&rules, facts, number, ai_done, &|q| cfg.serves(q), &env, false).0
}

/// The rule that decided (if one did) and the `routed` event: how the decision was made and where it points.
fn routed_event(
    cfg: &RoutingConfig,
    target: Option<Target>,
    via: Via,
) -> (Option<Uuid>, (&'static str, serde_json::Value)) {
    let rule = if let Via::Rule(id) = via { Some(id) } else { None };
    let via_name = match via {
        Via::Rule(_) => "rule",
        Via::AiAgent => "ai_agent",
        Via::DefaultQueue => "default_queue",
        Via::Nothing => "none",
    };
    let rule_name = rule.and_then(|id| cfg.rules.iter().find(|x| x.id == id)).map(|x| x.name.clone());
    (
        rule,
        (
            "routed",
            json!({"via": via_name, "rule_id": rule, "rule_name": rule_name, "target": target.map(target_json)}),
        ),
    )
}

/// A new customer's first message, as [`opening`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct FirstMessage<'a> {
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub text: &'a str,
    pub button_payload: Option<&'a str>,
}

/// Where the conversation a new customer's first message opens goes, decided before the message is stored, so
/// the inbound write stores it placed and the router never claims it (a second write of every new
/// conversation, BENCHMARKS.md). Only a placement that takes nobody is decided here: no owner, or an AI agent.
/// A queue or a named agent is `None`, left to the router, because taking an agent needs the capacity guard
/// (and a queue's hours and members) inside the router's transaction.
///
/// The facts are those the router reads for a customer Switchboard has never seen: the first message's text
/// and button, no attributes or tags, not returning, the number's language and hours as `cfg` has them (a
/// number `cfg` does not know yet is left to the router). The inbound write applies the opening only when its
/// contact upsert created the contact and `routing_config.version` is still the one `cfg` was loaded at;
/// otherwise the conversation is stored `unrouted` and the router decides with the stored facts. Either way the
/// timeline reads the same: `routed`, then `unowned` or `ai_agent`, by the router.
pub fn opening(cfg: &RoutingConfig, first: FirstMessage<'_>, now: Timestamp) -> Option<Opening> {
    let number = cfg.numbers.get(&first.number_id)?;
    let facts = Facts {
        channel_id: first.channel_id,
        number_id: first.number_id,
        language: number.language.clone(),
        text: first.text.to_owned(),
        button_payload: first.button_payload.filter(|p| !p.is_empty()).map(str::to_owned),
        number_hours_id: number.business_hours_id,
        ..Facts::default()
    };
    let Decision { target, via } = decide(cfg, &facts, false, now);
    let placement = match target {
        None => Placement::Unowned,
        Some(Target::AiAgent(ai)) => Placement::Ai(ai),
        Some(Target::Queue(_) | Target::Agent(_)) => return None,
    };
    let (rule, routed) = routed_event(cfg, target, via);
    let ai_agent = if let Placement::Ai(ai) = placement { Some(ai) } else { None };
    Some(Opening { ai_agent, rule, events: vec![routed, placement_event(placement)], actor: super::system_actor() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RoutingState;
    use crate::routing::config::NumberConfig;
    use crate::routing::rules::{Condition, Rule};

    const NOW: &str = "2026-03-02T10:00:00Z";

    fn config(id: Uuid, routing: NumberRouting, rules: Vec<Rule>) -> RoutingConfig {
        let number = NumberConfig { channel_id: Uuid::nil(), routing, business_hours_id: None, language: None };
        let numbers = [(id, number)];
        RoutingConfig { version: 7, rules, numbers: numbers.into_iter().collect(), ..Default::default() }
    }

    fn rule(text: &str, target: Target) -> Rule {
        let condition = Condition::TextContains { value: text.into() }.compile("c[0]").unwrap();
        Rule {
            id: Uuid::new_v4(),
            name: format!("{text} rule"),
            channel_id: None,
            enabled: true,
            conditions: vec![condition],
            target,
        }
    }

    fn first_message(number: Uuid, text: &str) -> FirstMessage<'_> {
        FirstMessage { channel_id: Uuid::nil(), number_id: number, text, button_payload: None }
    }

    fn kinds(o: &Opening) -> Vec<&str> {
        o.events.iter().map(|(kind, _)| *kind).collect()
    }

    #[test]
    fn a_new_customer_on_a_number_with_nothing_to_route_to_is_stored_unowned_by_the_router() {
        let number = Uuid::new_v4();
        let cfg = config(number, NumberRouting::default(), vec![]);
        let o = opening(&cfg, first_message(number, "hi"), NOW.parse().unwrap()).unwrap();
        assert_eq!((o.ai_agent, o.rule, o.state()), (None, None, RoutingState::Unowned));
        assert_eq!(kinds(&o), ["routed", "unowned"]);
        assert_eq!(o.events[0].1["via"], "none");
        assert_eq!((o.actor.kind, o.actor.label.as_str()), ("system", "router"));
    }

    #[test]
    fn a_new_customer_goes_to_the_numbers_ai_agent_unless_a_rule_decides_first() {
        let (number, ai, other_ai) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let routing = NumberRouting { ai_agent: Some(ai), default_queue_id: None };
        let sales = rule("price", Target::AiAgent(other_ai));
        let sales_id = sales.id;
        let cfg = config(number, routing, vec![sales]);

        let o = opening(&cfg, first_message(number, "hello"), NOW.parse().unwrap()).unwrap();
        assert_eq!((o.ai_agent, o.rule, o.state()), (Some(ai), None, RoutingState::Ai));
        assert_eq!(kinds(&o), ["routed", "ai_agent"]);
        assert_eq!(o.events[0].1["via"], "ai_agent");

        let o = opening(&cfg, first_message(number, "what is the price?"), NOW.parse().unwrap()).unwrap();
        assert_eq!((o.ai_agent, o.rule), (Some(other_ai), Some(sales_id)));
        assert_eq!(o.events[0].1["rule_name"], "price rule");
        assert_eq!(o.events[1].1["ai_agent_id"], other_ai.to_string());
    }

    #[test]
    fn a_queue_or_a_named_agent_is_left_to_the_router_which_takes_agents_under_the_capacity_guard() {
        let number = Uuid::new_v4();
        let queue = NumberRouting { ai_agent: None, default_queue_id: Some(Uuid::new_v4()) };
        assert!(opening(&config(number, queue, vec![]), first_message(number, "hi"), NOW.parse().unwrap()).is_none());

        let to_agent = rule("hi", Target::Agent(Uuid::new_v4()));
        let cfg = config(number, NumberRouting::default(), vec![to_agent]);
        assert!(opening(&cfg, first_message(number, "hi"), NOW.parse().unwrap()).is_none());
        assert!(opening(&cfg, first_message(number, "hello"), NOW.parse().unwrap()).is_some(), "no rule matched");
        let unknown = Uuid::new_v4();
        assert!(
            opening(&cfg, first_message(unknown, "hello"), NOW.parse().unwrap()).is_none(),
            "a number not loaded yet"
        );
    }

    #[test]
    fn a_new_customer_speaks_the_numbers_language_as_the_router_would_read_it() {
        let (number, ai) = (Uuid::new_v4(), Uuid::new_v4());
        let portuguese = Condition::Language { languages: vec!["pt".into()] }.compile("c[0]").unwrap();
        let rule = Rule { conditions: vec![portuguese], ..rule("x", Target::AiAgent(ai)) };
        let mut cfg = config(number, NumberRouting::default(), vec![rule]);
        assert_eq!(opening(&cfg, first_message(number, "oi"), NOW.parse().unwrap()).unwrap().ai_agent, None);
        cfg.numbers.get_mut(&number).unwrap().language = Some("pt-BR".into());
        assert_eq!(opening(&cfg, first_message(number, "oi"), NOW.parse().unwrap()).unwrap().ai_agent, Some(ai));
    }
}
