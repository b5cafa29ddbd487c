//! Routing rules: conditions on what is known about a new conversation, and the order of assignment
//! (rules first, then the AI agent when the number has it, then the number's default queue).
//!
//! Everything here is pure: the facts about a conversation and the configuration come in, a decision and the
//! reasons for it come out. `POST /routing/explain` shows exactly these reasons.

use super::hours_open;
use crate::domain::business_hours::Hours;
use jiff::Timestamp;
use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::domain::routing::{CommunicationType, Condition, CustomerKind, Serves, Target};

/// A condition that cannot be used, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

const MAX_TEXT: usize = 1000;
const MAX_LIST: usize = 100;

/// A condition ready to evaluate (text lowered, regular expression compiled).
#[derive(Debug, Clone)]
pub struct Compiled {
    pub condition: Condition,
    lowered: String,
    regex: Option<Regex>,
}

impl Condition {
    /// Checks the condition; `at` is its place in the request (`conditions[2]`).
    pub fn compile(&self, at: &str) -> Result<Compiled, Invalid> {
        let bad = |field: &str, message: String| Invalid { field: format!("{at}.{field}"), message };
        let list = |field: &str, len: usize| {
            if len == 0 || len > MAX_LIST {
                Err(bad(field, format!("give 1 to {MAX_LIST} values")))
            } else {
                Ok(())
            }
        };
        let text = |field: &str, value: &str| {
            if value.trim().is_empty() || value.chars().count() > MAX_TEXT {
                Err(bad(field, format!("give 1 to {MAX_TEXT} characters")))
            } else {
                Ok(())
            }
        };
        let mut lowered = String::new();
        let mut regex = None;
        match self {
            Self::Number { number_ids } => list("number_ids", number_ids.len())?,
            Self::CommunicationType { .. } | Self::Customer { .. } | Self::BusinessHours { .. } => {}
            Self::Language { languages } => {
                list("languages", languages.len())?;
                for (i, l) in languages.iter().enumerate() {
                    if !crate::domain::language::is_tag(l) {
                        return Err(bad(
                            &format!("languages[{i}]"),
                            format!("{l:?} is not a language tag such as en or pt-BR"),
                        ));
                    }
                }
            }
            Self::TextContains { value } => {
                text("value", value)?;
                lowered = value.to_lowercase();
            }
            Self::TextMatches { pattern } => {
                text("pattern", pattern)?;
                let compiled = regex::RegexBuilder::new(pattern)
                    .case_insensitive(true)
                    .size_limit(1 << 20)
                    .dfa_size_limit(1 << 20)
                    .build()
                    .map_err(|e| bad("pattern", format!("not a valid regular expression: {e}")))?;
                regex = Some(compiled);
            }
            Self::ButtonPayload { values } => {
                list("values", values.len())?;
                for (i, v) in values.iter().enumerate() {
                    text(&format!("values[{i}]"), v)?;
                }
            }
            Self::ContactAttribute { key, equals } => {
                text("key", key)?;
                if matches!(equals, Some(Value::Object(_) | Value::Array(_))) {
                    return Err(bad("equals", "compare with a string, number, boolean or null".into()));
                }
            }
            Self::ContactTag { tag } => {
                text("tag", tag)?;
                lowered = tag.to_lowercase();
            }
        }
        Ok(Compiled { condition: self.clone(), lowered, regex })
    }
}

/// What is known about a conversation when it is routed.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub channel_id: Uuid,
    pub number_id: Uuid,
    pub communication_type: CommunicationType,
    pub language: Option<String>,
    /// The first inbound message's text.
    pub text: String,
    pub button_payload: Option<String>,
    pub attributes: Map<String, Value>,
    pub tags: Vec<String>,
    pub returning: bool,
    /// The number's business hours (for a business-hours condition that names none).
    pub number_hours_id: Option<Uuid>,
}

/// The moment of the decision and the schedules it may consult.
pub struct Env<'a> {
    pub now: Timestamp,
    pub hours: &'a HashMap<Uuid, Hours>,
}

/// Whether one condition held, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConditionResult {
    pub held: bool,
    pub reason: String,
}

impl Compiled {
    /// Whether the condition holds: the decision alone, as every message's routing and automations need it.
    pub fn holds(&self, f: &Facts, text_lower: &str, env: &Env<'_>) -> bool {
        match &self.condition {
            Condition::Number { number_ids } => number_ids.contains(&f.number_id),
            Condition::CommunicationType { value } => *value == f.communication_type,
            Condition::Language { languages } => f
                .language
                .as_deref()
                .is_some_and(|lang| languages.iter().any(|l| crate::domain::language::matches(l, lang))),
            Condition::TextContains { .. } => text_lower.contains(&self.lowered),
            Condition::TextMatches { .. } => self.regex.as_ref().is_some_and(|r| r.is_match(&f.text)),
            Condition::ButtonPayload { values } => f.button_payload.as_ref().is_some_and(|p| values.contains(p)),
            Condition::ContactAttribute { key, equals } => match (f.attributes.get(key), equals) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(v), Some(want)) => match (v, want) {
                    (Value::String(a), Value::String(b)) => a.to_lowercase() == b.to_lowercase(),
                    (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
                    (a, b) => a == b,
                },
            },
            Condition::ContactTag { .. } => f.tags.iter().any(|t| t.to_lowercase() == self.lowered),
            Condition::BusinessHours { business_hours_id, open } => {
                hours_open(env.hours, business_hours_id.or(f.number_hours_id), env.now) == *open
            }
            Condition::Customer { value } => f.returning == (*value == CustomerKind::Returning),
        }
    }

    /// [`Self::holds`], and why in words (for `explain`).
    pub fn evaluate(&self, f: &Facts, text_lower: &str, env: &Env<'_>) -> ConditionResult {
        let held = self.holds(f, text_lower, env);
        let reason = match &self.condition {
            Condition::Number { .. } => {
                format!("the number {} {} listed", f.number_id, if held { "is" } else { "is not" })
            }
            Condition::CommunicationType { .. } => format!("the conversation is a {}", f.communication_type.as_str()),
            Condition::Language { .. } => match &f.language {
                Some(lang) => format!("the customer's language is {lang}"),
                None => "the customer's language is not known".into(),
            },
            Condition::TextContains { value } => {
                format!("the first message {} {value:?}", if held { "contains" } else { "does not contain" })
            }
            Condition::TextMatches { pattern } => {
                format!("the first message {} /{pattern}/", if held { "matches" } else { "does not match" })
            }
            Condition::ButtonPayload { .. } => match &f.button_payload {
                Some(p) => format!("the button payload is {p:?}"),
                None => "the first message is not a button reply".into(),
            },
            Condition::ContactAttribute { key, equals } => match (f.attributes.get(key), equals) {
                (None, _) => format!("the contact has no attribute {key:?}"),
                (Some(v), None) => format!("the contact has the attribute {key:?} ({v})"),
                (Some(v), Some(_)) => format!("the contact's {key:?} is {v}"),
            },
            Condition::ContactTag { tag } => {
                format!("the contact {} the tag {tag:?}", if held { "has" } else { "does not have" })
            }
            Condition::BusinessHours { business_hours_id, .. } => {
                let id = business_hours_id.or(f.number_hours_id);
                let state = if hours_open(env.hours, id, env.now) { "open" } else { "closed" };
                if business_hours_id.is_some() {
                    format!("the schedule is {state} now")
                } else {
                    format!("the number's business hours are {state} now")
                }
            }
            Condition::Customer { .. } => {
                format!("the customer is {}", if f.returning { "returning" } else { "new" })
            }
        };
        ConditionResult { held, reason }
    }
}

/// Whether every condition holds (never when `enabled` is false), with each one's result when `explain`;
/// without it, the first that fails ends the evaluation. Routing rules and auto-reply rules alike.
pub fn all_hold(
    enabled: bool,
    conditions: &[Compiled],
    facts: &Facts,
    text_lower: &str,
    env: &Env<'_>,
    explain: bool,
) -> (bool, Vec<ConditionResult>) {
    let mut matched = enabled;
    let mut results = Vec::new();
    for c in conditions {
        if !matched && !explain {
            break;
        }
        if explain {
            let r = c.evaluate(facts, text_lower, env);
            matched &= r.held;
            results.push(r);
        } else {
            matched &= c.holds(facts, text_lower, env);
        }
    }
    (matched, results)
}

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: Uuid,
    pub name: String,
    pub channel_id: Option<Uuid>,
    pub enabled: bool,
    pub conditions: Vec<Compiled>,
    pub target: Target,
}

impl Rule {
    /// A stored rule, ready to evaluate; a stored rule that cannot be (a condition this version refuses, no
    /// target) says why.
    pub fn compile(row: &crate::store::routing::RuleRow) -> Result<Self, String> {
        let conditions = row
            .conditions
            .0
            .iter()
            .enumerate()
            .map(|(i, c)| c.compile(&format!("conditions[{i}]")).map_err(|e| format!("{}: {}", e.field, e.message)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id: row.id,
            name: row.name.clone(),
            channel_id: row.channel_id,
            enabled: row.enabled,
            conditions,
            target: row.target().ok_or("the rule has no target")?,
        })
    }
}

/// One rule as the explanation shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleResult {
    pub rule_id: Uuid,
    pub name: String,
    /// Whether all its conditions held (a disabled rule never matches).
    pub matched: bool,
    /// Whether it decided: the first rule that matched (and may be used).
    pub decided: bool,
    /// Why a matching rule did not decide, or why it was not considered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub conditions: Vec<ConditionResult>,
}

/// How the target was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Rule(Uuid),
    AiAgent,
    DefaultQueue,
    /// No rule matched, no AI agent, no default queue: the conversation has no owner yet.
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub target: Option<Target>,
    pub via: Via,
}

/// What the order of assignment needs besides the rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct NumberRouting {
    /// The number's AI agent, which answers when no rule decides.
    pub ai_agent: Option<Uuid>,
    pub default_queue_id: Option<Uuid>,
}

/// Why a target cannot take this conversation: a queue serving the other communication type (a `calls` queue
/// receives calls only, a `messages` queue chats only), or an AI agent for a call (it answers in writing).
fn unfit(target: Target, kind: CommunicationType, serves: &dyn Fn(Uuid) -> Serves) -> Option<String> {
    match target {
        Target::Queue(q) if !serves(q).takes(kind) => {
            Some(format!("the queue serves {} only; this conversation is a {}", serves(q).as_str(), kind.as_str()))
        }
        Target::AiAgent(_) if kind == CommunicationType::Call => Some("an AI agent does not take calls".to_owned()),
        _ => None,
    }
}

/// The order of assignment. `rules` are the rules that apply to the conversation's channel, in order (channel
/// rules first, then global ones). `skip_ai`: the AI agent has handed the conversation over, so neither a rule
/// targeting it nor the AI step applies. `serves` says what each queue receives: a matching rule (or default
/// queue) whose queue serves the other communication type is passed over, and a call never goes to an AI agent.
/// With `explain`, every rule is evaluated and reported; without, the first match stops the search (the
/// router's fast path).
pub fn decide(
    rules: &[&Rule],
    facts: &Facts,
    number: NumberRouting,
    skip_ai: bool,
    serves: &dyn Fn(Uuid) -> Serves,
    env: &Env<'_>,
    explain: bool,
) -> (Decision, Vec<RuleResult>) {
    let kind = facts.communication_type;
    let text_lower = facts.text.to_lowercase();
    let mut decision = None;
    let mut report = Vec::new();
    for rule in rules {
        if decision.is_some() && !explain {
            break;
        }
        let (matched, results) = all_hold(rule.enabled, &rule.conditions, facts, &text_lower, env, explain);
        let mut note = None;
        let mut decided = false;
        if !rule.enabled {
            note = Some("the rule is disabled".to_owned());
        } else if matched && decision.is_some() {
            note = Some("an earlier rule decided".to_owned());
        } else if matched && skip_ai && matches!(rule.target, Target::AiAgent(_)) {
            note = Some("the AI agent has handed this conversation over; its rules no longer apply".to_owned());
        } else if let Some(why) = unfit(rule.target, kind, serves).filter(|_| matched) {
            note = Some(why);
        } else if matched {
            decided = true;
            decision = Some(Decision { target: Some(rule.target), via: Via::Rule(rule.id) });
        }
        if explain {
            report.push(RuleResult {
                rule_id: rule.id,
                name: rule.name.clone(),
                matched,
                decided,
                note,
                conditions: results,
            });
        }
    }
    let fits = |t: Target| unfit(t, kind, serves).is_none();
    let decision =
        decision.unwrap_or(if let Some(ai) = number.ai_agent.filter(|a| !skip_ai && fits(Target::AiAgent(*a))) {
            Decision { target: Some(Target::AiAgent(ai)), via: Via::AiAgent }
        } else if let Some(q) = number.default_queue_id.filter(|q| fits(Target::Queue(*q))) {
            Decision { target: Some(Target::Queue(q)), via: Via::DefaultQueue }
        } else {
            Decision { target: None, via: Via::Nothing }
        });
    (decision, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::business_hours::{Day, Range, Schedule};
    use std::collections::BTreeMap;

    fn rule(conditions: Vec<Condition>, target: Target) -> Rule {
        Rule {
            id: Uuid::new_v4(),
            name: "r".into(),
            channel_id: None,
            enabled: true,
            conditions: conditions.iter().enumerate().map(|(i, c)| c.compile(&format!("c[{i}]")).unwrap()).collect(),
            target,
        }
    }

    /// The decision, checked to be the same with and without its explanation.
    fn holds(condition: Condition, facts: &Facts, env: &Env<'_>) -> bool {
        let c = condition.compile("c").unwrap();
        let lower = facts.text.to_lowercase();
        let explained = c.evaluate(facts, &lower, env);
        assert_eq!(c.holds(facts, &lower, env), explained.held, "{explained:?}");
        explained.held
    }

    fn env<'a>(hours: &'a HashMap<Uuid, Hours>, at: &str) -> Env<'a> {
        Env { now: at.parse().unwrap(), hours }
    }

    /// Every queue serves messages and calls alike.
    fn both_types(_: Uuid) -> Serves {
        Serves::Both
    }
    const BOTH: fn(Uuid) -> Serves = both_types;

    /// No schedules at all: every business-hours condition sees "open".
    static NO_HOURS: std::sync::LazyLock<HashMap<Uuid, Hours>> = std::sync::LazyLock::new(HashMap::new);

    fn no_hours() -> Env<'static> {
        env(&NO_HOURS, "2026-03-02T10:00:00Z")
    }

    #[test]
    fn each_condition_type_holds_and_fails() {
        let number = Uuid::new_v4();
        let facts = Facts {
            number_id: number,
            language: Some("pt-BR".into()),
            text: "Hello, I want a REFUND for order 1234".into(),
            button_payload: Some("SALES".into()),
            attributes: serde_json::json!({"tier": "Gold", "score": 7, "vip": true}).as_object().unwrap().clone(),
            tags: vec!["VIP".into()],
            returning: true,
            ..Facts::default()
        };
        let e = no_hours();
        let cases: Vec<(Condition, bool)> = vec![
            (Condition::Number { number_ids: vec![number] }, true),
            (Condition::Number { number_ids: vec![Uuid::new_v4()] }, false),
            (Condition::CommunicationType { value: CommunicationType::Message }, true),
            (Condition::CommunicationType { value: CommunicationType::Call }, false),
            (Condition::Language { languages: vec!["pt".into()] }, true),
            (Condition::Language { languages: vec!["pt-br".into()] }, true),
            (Condition::Language { languages: vec!["en".into(), "pt-PT".into()] }, false),
            (Condition::TextContains { value: "refund".into() }, true),
            (Condition::TextContains { value: "invoice".into() }, false),
            (Condition::TextMatches { pattern: r"order\s+\d{4}$".into() }, true),
            (Condition::TextMatches { pattern: r"^order".into() }, false),
            (Condition::ButtonPayload { values: vec!["SUPPORT".into(), "SALES".into()] }, true),
            (Condition::ButtonPayload { values: vec!["sales".into()] }, false),
            (Condition::ContactAttribute { key: "tier".into(), equals: Some("gold".into()) }, true),
            (Condition::ContactAttribute { key: "tier".into(), equals: Some("silver".into()) }, false),
            (Condition::ContactAttribute { key: "score".into(), equals: Some(7.into()) }, true),
            (Condition::ContactAttribute { key: "vip".into(), equals: None }, true),
            (Condition::ContactAttribute { key: "region".into(), equals: None }, false),
            (Condition::ContactTag { tag: "vip".into() }, true),
            (Condition::ContactTag { tag: "churned".into() }, false),
            (Condition::Customer { value: CustomerKind::Returning }, true),
            (Condition::Customer { value: CustomerKind::New }, false),
            // No schedule anywhere: always open.
            (Condition::BusinessHours { business_hours_id: None, open: true }, true),
            (Condition::BusinessHours { business_hours_id: None, open: false }, false),
        ];
        for (condition, expected) in cases {
            assert_eq!(holds(condition.clone(), &facts, &e), expected, "{condition:?}");
        }
        // Unknown language and no button: the conditions do not hold.
        let bare = Facts::default();
        assert!(!holds(Condition::Language { languages: vec!["en".into()] }, &bare, &e));
        assert!(!holds(Condition::ButtonPayload { values: vec!["X".into()] }, &bare, &e));
    }

    #[test]
    fn business_hours_condition_uses_the_named_schedule_or_the_numbers() {
        let office = Uuid::new_v4();
        let schedule = Schedule {
            time_zone: "Europe/Amsterdam".into(),
            weekly: BTreeMap::from([(Day::Monday, vec![Range { open: "09:00".into(), close: "17:00".into() }])]),
            holidays: vec![],
        };
        let hours = HashMap::from([(office, schedule.check().unwrap())]);
        let facts = Facts { number_hours_id: Some(office), ..Facts::default() };
        // Monday 2026-03-02 10:00 UTC is 11:00 in Amsterdam: open. 18:00 UTC is 19:00: closed.
        let open = env(&hours, "2026-03-02T10:00:00Z");
        let closed = env(&hours, "2026-03-02T18:00:00Z");
        let named = Condition::BusinessHours { business_hours_id: Some(office), open: true };
        let numbers = Condition::BusinessHours { business_hours_id: None, open: false };
        assert!(holds(named.clone(), &Facts::default(), &open));
        assert!(!holds(named, &Facts::default(), &closed));
        assert!(!holds(numbers.clone(), &facts, &open));
        assert!(holds(numbers, &facts, &closed));
    }

    #[test]
    fn invalid_conditions_name_the_field() {
        let cases = [
            (Condition::TextMatches { pattern: "(unclosed".into() }, "c.pattern"),
            (Condition::TextMatches { pattern: "a{1000}{1000}".into() }, "c.pattern"),
            (Condition::Number { number_ids: vec![] }, "c.number_ids"),
            (Condition::Language { languages: vec!["not a tag".into()] }, "c.languages[0]"),
            (Condition::TextContains { value: " ".into() }, "c.value"),
            (Condition::ContactAttribute { key: "k".into(), equals: Some(serde_json::json!({})) }, "c.equals"),
        ];
        for (c, field) in cases {
            assert_eq!(c.compile("c").unwrap_err().field, field, "{c:?}");
        }
    }

    #[test]
    fn first_matching_rule_decides_in_order() {
        let (q1, q2) = (Uuid::new_v4(), Uuid::new_v4());
        let r1 = rule(vec![Condition::TextContains { value: "refund".into() }], Target::Queue(q1));
        let r2 = rule(vec![], Target::Queue(q2));
        let facts = Facts { text: "refund please".into(), ..Facts::default() };
        let e = no_hours();
        let (d, report) = decide(&[&r1, &r2], &facts, NumberRouting::default(), false, &BOTH, &e, true);
        assert_eq!(d, Decision { target: Some(Target::Queue(q1)), via: Via::Rule(r1.id) });
        assert!(report[0].decided && report[1].matched && !report[1].decided);
        assert_eq!(report[1].note.as_deref(), Some("an earlier rule decided"));
        // The other order: the catch-all decides.
        let (d, _) = decide(&[&r2, &r1], &facts, NumberRouting::default(), false, &BOTH, &e, false);
        assert_eq!(d.via, Via::Rule(r2.id));
    }

    #[test]
    fn without_a_match_the_ai_agent_then_the_default_queue() {
        let (q, ai) = (Uuid::new_v4(), Uuid::new_v4());
        let never = rule(vec![Condition::TextContains { value: "zzz".into() }], Target::Agent(Uuid::new_v4()));
        let facts = Facts::default();
        let e = no_hours();
        let both = NumberRouting { ai_agent: Some(ai), default_queue_id: Some(q) };
        assert_eq!(decide(&[&never], &facts, both, false, &BOTH, &e, false).0.target, Some(Target::AiAgent(ai)));
        // Handed over: the AI agent is skipped, also as a rule's target.
        let to_ai = rule(vec![], Target::AiAgent(Uuid::new_v4()));
        let (d, report) = decide(&[&to_ai], &facts, both, true, &BOTH, &e, true);
        assert_eq!(d, Decision { target: Some(Target::Queue(q)), via: Via::DefaultQueue });
        assert!(report[0].matched && !report[0].decided);
        let none = NumberRouting::default();
        assert_eq!(decide(&[], &facts, none, false, &BOTH, &e, false).0.via, Via::Nothing);
    }

    #[test]
    fn a_disabled_rule_never_decides() {
        let mut r = rule(vec![], Target::AiAgent(Uuid::new_v4()));
        r.enabled = false;
        let (d, report) = decide(&[&r], &Facts::default(), NumberRouting::default(), false, &BOTH, &no_hours(), true);
        assert_eq!(d.via, Via::Nothing);
        assert!(!report[0].matched);
    }

    #[test]
    fn a_rule_whose_queue_serves_the_other_communication_type_is_passed_over() {
        let (calls, chats) = (Uuid::new_v4(), Uuid::new_v4());
        let serves = move |q: Uuid| if q == calls { Serves::Calls } else { Serves::Messages };
        let to_calls = rule(vec![], Target::Queue(calls));
        let to_chats = rule(vec![], Target::Queue(chats));
        let e = no_hours();
        let message = Facts::default();
        let call = Facts { communication_type: CommunicationType::Call, ..Facts::default() };
        let (d, report) = decide(&[&to_calls, &to_chats], &message, NumberRouting::default(), false, &serves, &e, true);
        assert_eq!(d.via, Via::Rule(to_chats.id));
        assert!(report[0].matched && !report[0].decided);
        assert_eq!(report[0].note.as_deref(), Some("the queue serves calls only; this conversation is a message"));
        let (d, _) = decide(&[&to_chats, &to_calls], &call, NumberRouting::default(), false, &serves, &e, false);
        assert_eq!(d.via, Via::Rule(to_calls.id));
    }

    #[test]
    fn a_default_queue_serving_the_other_communication_type_leaves_the_conversation_unowned() {
        let calls = Uuid::new_v4();
        let serves = move |_: Uuid| Serves::Calls;
        let number = NumberRouting { ai_agent: None, default_queue_id: Some(calls) };
        let (d, _) = decide(&[], &Facts::default(), number, false, &serves, &no_hours(), false);
        assert_eq!(d, Decision { target: None, via: Via::Nothing });
        let call = Facts { communication_type: CommunicationType::Call, ..Facts::default() };
        let (d, _) = decide(&[], &call, number, false, &serves, &no_hours(), false);
        assert_eq!(d, Decision { target: Some(Target::Queue(calls)), via: Via::DefaultQueue });
    }

    #[test]
    fn a_call_never_goes_to_an_ai_agent() {
        let (q, ai) = (Uuid::new_v4(), Uuid::new_v4());
        let number = NumberRouting { ai_agent: Some(ai), default_queue_id: Some(q) };
        let to_ai = rule(vec![], Target::AiAgent(ai));
        let call = Facts { communication_type: CommunicationType::Call, ..Facts::default() };
        let (d, report) = decide(&[&to_ai], &call, number, false, &BOTH, &no_hours(), true);
        assert_eq!(d, Decision { target: Some(Target::Queue(q)), via: Via::DefaultQueue });
        assert_eq!(report[0].note.as_deref(), Some("an AI agent does not take calls"));
    }
}
