//! Auto-reply rules: routing's conditions, evaluated on each inbound message, and the actions of those that
//! fire. Pure: the facts, the moment, the schedules and when each rule last fired for the contact come in;
//! which rules fire and why each other one did not come out. `POST /automation/explain` shows exactly this.

use crate::domain::automation::Action;
use crate::routing::rules::{Compiled, ConditionResult, Env, Facts};
use crate::store::automation::AutoRuleRow;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct AutoRule {
    pub id: Uuid,
    pub name: String,
    pub channel_id: Option<Uuid>,
    pub enabled: bool,
    pub conditions: Vec<Compiled>,
    pub actions: Vec<Action>,
    pub cooldown_secs: Option<i32>,
    pub stop_after: bool,
}

impl AutoRule {
    /// A stored rule, ready to evaluate; a stored condition this version refuses says why.
    pub fn compile(row: &AutoRuleRow) -> Result<Self, String> {
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
            actions: row.actions.0.clone(),
            cooldown_secs: row.cooldown_secs,
            stop_after: row.stop_after,
        })
    }
}

/// One rule as the explanation shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AutoRuleResult {
    pub rule_id: Uuid,
    pub name: String,
    /// Whether all its conditions held (a disabled rule never matches).
    pub matched: bool,
    /// Whether it fires: it matched, is out of its cooldown, and no earlier rule stopped the evaluation.
    pub fires: bool,
    /// Why a matching rule does not fire, or why it was not considered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub conditions: Vec<ConditionResult>,
}

/// Whether the rule could fire for a message, judged before anything about the contact is read: conditions on
/// the contact (language, attributes, tags, new or returning) are taken to hold; the others are evaluated. A
/// cooldown is not looked at (the contact's is in the database): a rule in its cooldown still could.
pub fn could_fire(rule: &AutoRule, facts: &Facts, text_lower: &str, env: &Env<'_>) -> bool {
    use crate::domain::routing::Condition as C;
    rule.enabled
        && rule.conditions.iter().all(|c| match c.condition {
            C::Language { .. } | C::ContactAttribute { .. } | C::ContactTag { .. } | C::Customer { .. } => true,
            _ => c.holds(facts, text_lower, env),
        })
}

/// The rules that fire for a message, in order. `rules` are those of the message's channel, in order (the
/// channel's first, then global ones); `last_fired` says how many seconds ago each rule last fired for this
/// contact. With `explain` every rule is evaluated and reported.
pub fn evaluate<'r>(
    rules: &[&'r AutoRule],
    facts: &Facts,
    env: &Env<'_>,
    last_fired: &HashMap<Uuid, f64>,
    explain: bool,
) -> (Vec<&'r AutoRule>, Vec<AutoRuleResult>) {
    let text_lower = facts.text.to_lowercase();
    let mut fired: Vec<&AutoRule> = Vec::new();
    let mut stopped_by: Option<&str> = None;
    let mut report = Vec::new();
    for rule in rules {
        if stopped_by.is_some() && !explain {
            break;
        }
        let (matched, results) =
            crate::routing::rules::all_hold(rule.enabled, &rule.conditions, facts, &text_lower, env, explain);
        let cooling = rule.cooldown_secs.and_then(|secs| {
            let ago = *last_fired.get(&rule.id)?;
            (ago < f64::from(secs)).then(|| (f64::from(secs) - ago).ceil())
        });
        let note = if !rule.enabled {
            Some("the rule is disabled".to_owned())
        } else if !matched {
            None
        } else if let Some(stopper) = stopped_by {
            Some(format!("rule {stopper:?} fired before it and stops the evaluation"))
        } else {
            cooling.map(|left| format!("it fired for this contact recently: its cooldown has {left} s left"))
        };
        let fires = matched && note.is_none();
        if fires {
            fired.push(rule);
            if rule.stop_after {
                stopped_by = Some(&rule.name);
            }
        }
        if explain {
            report.push(AutoRuleResult {
                rule_id: rule.id,
                name: rule.name.clone(),
                matched,
                fires,
                note,
                conditions: results,
            });
        }
    }
    (fired, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::routing::Condition;
    use jiff::Timestamp;

    fn rule(name: &str, conditions: Vec<Condition>, cooldown: Option<i32>, stop_after: bool) -> AutoRule {
        AutoRule {
            id: Uuid::now_v7(),
            name: name.into(),
            channel_id: None,
            enabled: true,
            conditions: conditions.iter().map(|c| c.compile("c").unwrap()).collect(),
            actions: vec![Action::Reply { text: name.into() }],
            cooldown_secs: cooldown,
            stop_after,
        }
    }

    fn contains(v: &str) -> Condition {
        Condition::TextContains { value: v.into() }
    }

    fn facts(text: &str) -> Facts {
        Facts { text: text.into(), ..Facts::default() }
    }

    fn run<'r>(
        rules: &[&'r AutoRule],
        text: &str,
        fired: &HashMap<Uuid, f64>,
    ) -> (Vec<&'r AutoRule>, Vec<AutoRuleResult>) {
        let hours = HashMap::new();
        evaluate(rules, &facts(text), &Env { now: Timestamp::now(), hours: &hours }, fired, true)
    }

    #[test]
    fn every_matching_rule_fires_in_order() {
        let (a, b, c) = (
            rule("a", vec![contains("price")], None, false),
            rule("b", vec![contains("zzz")], None, false),
            rule("c", vec![], None, false),
        );
        let (fired, report) = run(&[&a, &b, &c], "What is the PRICE?", &HashMap::new());
        assert_eq!(fired.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["a", "c"]);
        assert!(!report[1].matched && report[1].note.is_none());
    }

    #[test]
    fn stop_after_ends_the_evaluation_and_says_so() {
        let (a, b) = (rule("a", vec![], None, true), rule("b", vec![], None, false));
        let (fired, report) = run(&[&a, &b], "hi", &HashMap::new());
        assert_eq!(fired.len(), 1);
        assert!(report[1].matched && !report[1].fires);
        assert!(report[1].note.as_deref().unwrap().contains("stops the evaluation"));
    }

    #[test]
    fn a_rule_in_its_cooldown_does_not_fire_and_does_not_stop_later_ones() {
        let (a, b) = (rule("a", vec![], Some(86_400), true), rule("b", vec![], None, false));
        let fired_before = HashMap::from([(a.id, 3_600.0)]);
        let (fired, report) = run(&[&a, &b], "hi", &fired_before);
        assert_eq!(fired.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["b"]);
        assert!(report[0].note.as_deref().unwrap().contains("cooldown has 82800 s left"));
        // Once the cooldown has passed it fires again.
        let long_ago = HashMap::from([(a.id, 86_400.0)]);
        assert_eq!(run(&[&a, &b], "hi", &long_ago).0.len(), 1, "a fires and stops b");
    }

    #[test]
    fn a_disabled_rule_never_fires() {
        let mut a = rule("a", vec![], None, false);
        a.enabled = false;
        let (fired, report) = run(&[&a], "hi", &HashMap::new());
        assert!(fired.is_empty());
        assert_eq!(report[0].note.as_deref(), Some("the rule is disabled"));
    }
}
