//! What the automations do about one inbound message, as a pure decision: a STOP or START keyword, a yes or
//! no to a call-permission request, the refused-media reply, the greeting, the out-of-hours message, then the
//! actions of the auto-reply rules that fire. Each step carries its exactly-once key; the engine claims the key
//! and carries the step out.

use super::config::{AutomationConfig, NumberAutomation};
use super::rules;
use crate::domain::automation::{render, Action, Kind, Look, Placeholders};
use crate::domain::call_permission;
use crate::domain::opt_in::{self, OptInState};
use crate::domain::routing::Target;
use crate::routing::rules::{Env, Facts};
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The built-in reply to media a number does not accept.
pub const ATTACHMENTS_REFUSED: &str =
    "Sorry, we cannot receive files or pictures here. Please describe what you need in a message.";

/// What the customer is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Say {
    Text(String),
    Template { id: Uuid, variables: BTreeMap<String, String> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Does {
    Say(Say),
    AddTags(Vec<Uuid>),
    SetPriority(i32),
    Resolve,
    Route(Target),
    /// The customer wrote a STOP or START keyword (in `message_id`): record it, then confirm with `text`.
    OptIn {
        state: OptInState,
        message_id: Uuid,
        text: String,
    },
    /// The customer wrote yes or no (`granted`) alone or tapped a button saying it: their answer to a
    /// call-permission request, recorded if the business asked them.
    CallPermissionAnswer {
        message_id: Uuid,
        granted: bool,
    },
}

/// One thing to do, with the key that makes it happen once.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: Kind,
    pub key: String,
    pub rule_id: Option<Uuid>,
    pub does: Does,
}

/// What is known about the message and its conversation when the automations look at it.
#[derive(Debug, Clone)]
pub struct Inbound<'a> {
    pub message_id: Uuid,
    pub number_id: Uuid,
    pub queue_id: Option<Uuid>,
    pub profile_name: Option<&'a str>,
    pub refused_media: bool,
    /// A person (or API token) already wrote in the conversation.
    pub person_replied: bool,
    pub person_replied_secs_ago: Option<f64>,
    /// When each auto-reply rule last fired for the contact (seconds ago).
    pub last_fired: &'a HashMap<Uuid, f64>,
}

/// Every step for the message, in the order they are carried out.
pub fn decide(cfg: &AutomationConfig, m: &Inbound<'_>, facts: &Facts, now: Timestamp) -> Vec<Step> {
    let mut steps = Vec::new();
    // A keyword alone is the customer's answer about consent: recorded and confirmed, nothing else said.
    if let Some(k) = cfg.words.keyword(&facts.text) {
        let text = opt_in::confirmation(k).to_owned();
        let does = Does::OptIn { state: k.state, message_id: m.message_id, text };
        steps.push(Step { kind: Kind::OptIn, key: m.message_id.to_string(), rule_id: None, does });
        return steps;
    }
    if let Some(granted) = call_permission::reply(facts.button_payload.as_deref(), &facts.text) {
        let does = Does::CallPermissionAnswer { message_id: m.message_id, granted };
        steps.push(Step { kind: Kind::CallPermission, key: m.message_id.to_string(), rule_id: None, does });
    }
    let Some(number) = cfg.numbers.get(&m.number_id) else { return steps };
    let names =
        Placeholders { customer_name: m.profile_name, number_name: Some(&number.display_name), ..Default::default() };
    let say = |text: &str| Does::Say(Say::Text(render(text, &names)));
    if m.refused_media {
        let text = number.attachments_refused_text.as_deref().unwrap_or(ATTACHMENTS_REFUSED);
        steps.push(Step {
            kind: Kind::AttachmentsRefused,
            key: m.message_id.to_string(),
            rule_id: None,
            does: say(text),
        });
    }
    if !m.person_replied {
        if let Some(does) = greeting(number, &names) {
            steps.push(Step { kind: Kind::Greeting, key: String::new(), rule_id: None, does });
        }
    }
    if let Some((key, text)) = out_of_hours(cfg, number, m, now) {
        steps.push(Step { kind: Kind::OutOfHours, key, rule_id: None, does: say(&text) });
    }
    let env = Env { now, hours: &cfg.routing.hours };
    let (fired, _) = rules::evaluate(&cfg.rules_for(facts.channel_id), facts, &env, m.last_fired, false);
    for rule in fired {
        for (i, action) in rule.actions.iter().enumerate() {
            let does = match action {
                Action::Reply { text } => say(text),
                Action::ReplyTemplate { template_id, variables } => Does::Say(Say::Template {
                    id: *template_id,
                    variables: variables.iter().map(|(k, v)| (k.clone(), render(v, &names))).collect(),
                }),
                Action::AddTags { tag_ids } => Does::AddTags(tag_ids.clone()),
                Action::SetPriority { priority } => Does::SetPriority(*priority),
                Action::Resolve => Does::Resolve,
                Action::Route { queue_id: Some(q), .. } => Does::Route(Target::Queue(*q)),
                Action::Route { agent_id: Some(a), .. } => Does::Route(Target::Agent(*a)),
                Action::Route { .. } => continue,
            };
            let key = format!("{}:{}:{i}", rule.id, m.message_id);
            steps.push(Step { kind: Kind::Rule, key, rule_id: Some(rule.id), does });
        }
    }
    steps
}

/// Whether the engine must look at an inbound message at all, decided on the webhook's path from the
/// configuration in memory, before the message is stored: never when nothing could act on it (no greeting, the
/// hours open or no out-of-hours text, no media refused, no auto-reply rule whose message conditions hold), only
/// if it opens a new conversation when the greeting is all that could. Errs towards looking: whatever could act
/// is decided exactly by the engine.
pub fn look(cfg: &AutomationConfig, number_id: Uuid, facts: &Facts, refused_media: bool, now: Timestamp) -> Look {
    if cfg.words.keyword(&facts.text).is_some() {
        return Look::Always;
    }
    let Some(number) = cfg.numbers.get(&number_id) else { return Look::Always };
    if refused_media {
        return Look::Always;
    }
    let closed = |id: Option<Uuid>| id.and_then(|h| cfg.routing.hours.get(&h)).is_some_and(|h| !h.is_open(now));
    // The queue a conversation waits in is not known here: any queue with an out-of-hours text and closed hours.
    let number_closed = number.out_of_hours_text.is_some()
        && closed(cfg.routing.numbers.get(&number_id).and_then(|n| n.business_hours_id));
    let queue_closed = cfg.routing.queues.values().any(|q| {
        let text =
            cfg.queues.get(&q.id).is_some_and(|a| a.out_of_hours_text.is_some()) || number.out_of_hours_text.is_some();
        !q.deleted && text && closed(q.business_hours_id)
    });
    if number_closed || queue_closed {
        return Look::Always;
    }
    let env = Env { now, hours: &cfg.routing.hours };
    let text_lower = facts.text.to_lowercase();
    if cfg.rules_for(facts.channel_id).iter().any(|r| rules::could_fire(r, facts, &text_lower, &env)) {
        return Look::Always;
    }
    if number.greets() {
        Look::IfNewConversation
    } else {
        Look::Never
    }
}

fn greeting(number: &NumberAutomation, names: &Placeholders<'_>) -> Option<Does> {
    if let Some(id) = number.greeting_template_id {
        let variables = number.greeting_variables.iter().map(|(k, v)| (k.clone(), render(v, names))).collect();
        return Some(Does::Say(Say::Template { id, variables }));
    }
    number.greeting_text.as_deref().map(|t| Does::Say(Say::Text(render(t, names))))
}

/// The out-of-hours message and its key (the closed period, named by when it next opens), when the schedule
/// that applies is closed: the queue's when the conversation is in a queue with business hours (its own text,
/// else the number's), else the number's. Nothing when a person replied within the quiet minutes.
fn out_of_hours(
    cfg: &AutomationConfig,
    number: &NumberAutomation,
    m: &Inbound<'_>,
    now: Timestamp,
) -> Option<(String, String)> {
    let queue_hours = m.queue_id.and_then(|q| cfg.routing.queue(q)).and_then(|q| q.business_hours_id);
    let (hours_id, text) = match queue_hours {
        Some(h) => {
            let own = m.queue_id.and_then(|q| cfg.queues.get(&q)).and_then(|q| q.out_of_hours_text.clone());
            (h, own.or_else(|| number.out_of_hours_text.clone())?)
        }
        None => {
            let h = cfg.routing.numbers.get(&m.number_id).and_then(|n| n.business_hours_id)?;
            (h, number.out_of_hours_text.clone()?)
        }
    };
    let hours = cfg.routing.hours.get(&hours_id)?;
    if hours.is_open(now) {
        return None;
    }
    let quiet = f64::from(number.out_of_hours_quiet_minutes) * 60.0;
    if m.person_replied_secs_ago.is_some_and(|ago| ago < quiet) {
        return None;
    }
    let key = hours.next_open(now).map_or_else(|| "closed".to_owned(), |t| t.to_string());
    Some((key, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::business_hours::{Day, Range, Schedule};
    use crate::routing::config::{NumberConfig, RoutingConfig};
    use crate::routing::rules::NumberRouting;
    use std::sync::Arc;

    const NUMBER: Uuid = Uuid::from_u128(1);
    const HOURS: Uuid = Uuid::from_u128(2);

    /// A number with a greeting and an out-of-hours text, open Monday 09:00–17:00 in Amsterdam.
    fn config() -> AutomationConfig {
        let mut weekly = std::collections::BTreeMap::new();
        weekly.insert(Day::Monday, vec![Range { open: "09:00".into(), close: "17:00".into() }]);
        let hours = Schedule { time_zone: "Europe/Amsterdam".into(), weekly, holidays: vec![] }.check().unwrap();
        let routing = RoutingConfig {
            numbers: HashMap::from([(
                NUMBER,
                NumberConfig {
                    channel_id: Uuid::nil(),
                    routing: NumberRouting::default(),
                    business_hours_id: Some(HOURS),
                    language: None,
                },
            )]),
            hours: HashMap::from([(HOURS, hours)]),
            ..RoutingConfig::default()
        };
        let number = NumberAutomation {
            display_name: "Acme".into(),
            greeting_text: Some("Hi {{customer_name}}, this is {{number_name}}.".into()),
            out_of_hours_text: Some("We are closed.".into()),
            out_of_hours_quiet_minutes: 30,
            ..NumberAutomation::default()
        };
        AutomationConfig {
            routing: Arc::new(routing),
            numbers: HashMap::from([(NUMBER, number)]),
            ..Default::default()
        }
    }

    fn inbound(fired: &HashMap<Uuid, f64>) -> Inbound<'_> {
        Inbound {
            message_id: Uuid::from_u128(9),
            number_id: NUMBER,
            queue_id: None,
            profile_name: Some("Ana"),
            refused_media: false,
            person_replied: false,
            person_replied_secs_ago: None,
            last_fired: fired,
        }
    }

    fn kinds(steps: &[Step]) -> Vec<Kind> {
        steps.iter().map(|s| s.kind).collect()
    }

    const MONDAY_NOON: &str = "2026-11-23T11:00:00Z";
    const MONDAY_EVENING: &str = "2026-11-23T19:00:00Z";

    #[test]
    fn a_yes_or_no_alone_is_read_as_an_answer_to_a_call_permission_request() {
        let (cfg, fired) = (config(), HashMap::new());
        let facts = Facts { text: "Sí".into(), ..Facts::default() };
        let steps = decide(&cfg, &inbound(&fired), &facts, MONDAY_NOON.parse().unwrap());
        let answer = steps.iter().find(|s| s.kind == Kind::CallPermission).expect("an answer step");
        assert_eq!(answer.does, Does::CallPermissionAnswer { message_id: Uuid::from_u128(9), granted: true });
        assert_eq!(answer.key, Uuid::from_u128(9).to_string(), "once per message");
        let facts = Facts { text: "Sí, claro, a las 5".into(), ..Facts::default() };
        let steps = decide(&cfg, &inbound(&fired), &facts, MONDAY_NOON.parse().unwrap());
        assert!(!kinds(&steps).contains(&Kind::CallPermission), "a sentence is not an answer");
    }

    #[test]
    fn the_greeting_names_the_customer_and_the_number_until_a_person_replies() {
        let (cfg, fired) = (config(), HashMap::new());
        let steps = decide(&cfg, &inbound(&fired), &Facts::default(), MONDAY_NOON.parse().unwrap());
        assert_eq!(steps[0].does, Does::Say(Say::Text("Hi Ana, this is Acme.".into())));
        assert_eq!(kinds(&steps), [Kind::Greeting]);
        let replied = Inbound { person_replied: true, ..inbound(&fired) };
        assert!(decide(&cfg, &replied, &Facts::default(), MONDAY_NOON.parse().unwrap()).is_empty());
    }

    #[test]
    fn out_of_hours_is_keyed_by_the_closed_period() {
        let (cfg, fired) = (config(), HashMap::new());
        let m = Inbound { person_replied: true, ..inbound(&fired) };
        let evening = decide(&cfg, &m, &Facts::default(), MONDAY_EVENING.parse().unwrap());
        let night = decide(&cfg, &m, &Facts::default(), "2026-11-24T02:00:00Z".parse().unwrap());
        assert_eq!(kinds(&evening), [Kind::OutOfHours]);
        assert_eq!(evening[0].key, "2026-11-30T08:00:00Z", "named by the next opening");
        assert_eq!(evening[0].key, night[0].key, "one closed period, one key: said once");
    }

    #[test]
    fn a_recent_reply_by_a_person_keeps_the_out_of_hours_message_quiet() {
        let (cfg, fired) = (config(), HashMap::new());
        let recent = Inbound { person_replied: true, person_replied_secs_ago: Some(600.0), ..inbound(&fired) };
        assert!(decide(&cfg, &recent, &Facts::default(), MONDAY_EVENING.parse().unwrap()).is_empty());
        let long_ago = Inbound { person_replied_secs_ago: Some(3600.0), ..recent };
        assert_eq!(
            kinds(&decide(&cfg, &long_ago, &Facts::default(), MONDAY_EVENING.parse().unwrap())),
            [Kind::OutOfHours]
        );
    }

    #[test]
    fn the_engine_looks_only_at_what_could_be_acted_on() {
        let mut cfg = config();
        let open = MONDAY_NOON.parse().unwrap();
        let facts = Facts { number_id: NUMBER, text: "where is my order?".into(), ..Facts::default() };
        assert_eq!(look(&cfg, NUMBER, &facts, false, open), Look::IfNewConversation, "only the greeting could act");
        assert_eq!(look(&cfg, NUMBER, &facts, false, MONDAY_EVENING.parse().unwrap()), Look::Always, "closed");
        assert_eq!(look(&cfg, NUMBER, &facts, true, open), Look::Always, "refused media");
        let words = |w: &str| {
            let c = crate::domain::routing::Condition::TextContains { value: w.into() };
            rules::AutoRule {
                id: Uuid::now_v7(),
                name: w.into(),
                channel_id: None,
                enabled: true,
                conditions: vec![c.compile("c").unwrap()],
                actions: vec![Action::Resolve],
                cooldown_secs: None,
                stop_after: false,
            }
        };
        cfg.rules.push(words("refund"));
        assert_eq!(look(&cfg, NUMBER, &facts, false, open), Look::IfNewConversation, "a rule that cannot match");
        cfg.rules.push(words("ORDER"));
        assert_eq!(look(&cfg, NUMBER, &facts, false, open), Look::Always, "a rule that could fire");
        cfg.numbers.get_mut(&NUMBER).unwrap().greeting_text = None;
        cfg.rules.pop();
        assert_eq!(look(&cfg, NUMBER, &facts, false, open), Look::Never);
    }

    #[test]
    fn a_stop_keyword_is_recorded_and_confirmed_and_nothing_else_is_said() {
        let (cfg, fired) = (config(), HashMap::new());
        let m = inbound(&fired);
        let facts = Facts { text: "Stop".into(), ..Facts::default() };
        assert_eq!(look(&cfg, Uuid::now_v7(), &facts, false, MONDAY_NOON.parse().unwrap()), Look::Always);
        let steps = decide(&cfg, &m, &facts, MONDAY_NOON.parse().unwrap());
        assert_eq!(steps.len(), 1, "no greeting after STOP: {steps:?}");
        assert_eq!(steps[0].kind, Kind::OptIn);
        assert!(
            matches!(&steps[0].does, Does::OptIn { state: OptInState::OptedOut, text, .. } if text.contains("START"))
        );
    }

    #[test]
    fn refused_media_gets_the_built_in_reply_unless_the_number_has_its_own() {
        let (mut cfg, fired) = (config(), HashMap::new());
        let m = Inbound { refused_media: true, person_replied: true, ..inbound(&fired) };
        let steps = decide(&cfg, &m, &Facts::default(), MONDAY_NOON.parse().unwrap());
        assert_eq!(steps[0].does, Does::Say(Say::Text(ATTACHMENTS_REFUSED.into())));
        cfg.numbers.get_mut(&NUMBER).unwrap().attachments_refused_text = Some("No files, {{customer_name}}.".into());
        let steps = decide(&cfg, &m, &Facts::default(), MONDAY_NOON.parse().unwrap());
        assert_eq!(steps[0].does, Does::Say(Say::Text("No files, Ana.".into())));
    }
}
