//! Choosing an agent inside a queue: who is eligible, and in which order they are offered the conversation.
//!
//! Pure: the router loads the queue's members with their presence and load, ranks them here, then takes the
//! first one whose row it can update under the capacity guard (`store::routing::take_agent`), so two
//! processes that rank alike still never overfill an agent.

use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Lowest load relative to capacity; ties to whoever has waited longest since their last assignment.
    LeastLoaded,
    /// Strict rotation: the member whose last turn in this queue is oldest goes next.
    RoundRobin,
}

impl Strategy {
    pub fn parse(s: &str) -> Self {
        match s {
            "round_robin" => Self::RoundRobin,
            _ => Self::LeastLoaded,
        }
    }
}

pub use crate::domain::routing::Candidate;

/// What the queue and the conversation ask of an agent.
#[derive(Debug, Clone, Default)]
pub struct Requirements<'a> {
    pub skills: &'a [String],
    /// The conversation's language, when the queue matches languages and the language is known.
    pub language: Option<&'a str>,
    /// The customer's last agent, offered first when eligible (the queue's `prefer_last_agent`).
    pub preferred: Option<Uuid>,
}

/// Eligible: available, under capacity, with every required skill and (when asked) the conversation's language.
pub fn eligible(c: &Candidate, req: &Requirements<'_>) -> bool {
    c.available
        && c.load < c.capacity
        && req.skills.iter().all(|s| c.skills.iter().any(|have| have.eq_ignore_ascii_case(s)))
        && req.language.is_none_or(|lang| c.languages.iter().any(|l| crate::domain::language::matches(l, lang)))
}

/// The eligible candidates, best first (indices into `candidates`).
pub fn rank(strategy: Strategy, candidates: &[Candidate], req: &Requirements<'_>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len()).filter(|&i| eligible(&candidates[i], req)).collect();
    let at = |t: Option<OffsetDateTime>| t.map(|t| t.unix_timestamp_nanos()).unwrap_or(i128::MIN);
    match strategy {
        Strategy::LeastLoaded => order.sort_by(|&a, &b| {
            let (x, y) = (&candidates[a], &candidates[b]);
            // x.load / x.capacity vs y.load / y.capacity, without division (capacities are positive here).
            (i64::from(x.load) * i64::from(y.capacity))
                .cmp(&(i64::from(y.load) * i64::from(x.capacity)))
                .then(at(x.last_assigned_at).cmp(&at(y.last_assigned_at)))
                .then(x.id.cmp(&y.id))
        }),
        Strategy::RoundRobin => order.sort_by(|&a, &b| {
            let (x, y) = (&candidates[a], &candidates[b]);
            at(x.turn_at).cmp(&at(y.turn_at)).then(x.id.cmp(&y.id))
        }),
    }
    if let Some(p) = req.preferred {
        if let Some(pos) = order.iter().position(|&i| candidates[i].id == p) {
            let first = order.remove(pos);
            order.insert(0, first);
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::{eligible, rank, Candidate, Requirements, Strategy as S};
    use proptest::prelude::*;
    use time::OffsetDateTime;
    use uuid::Uuid;

    fn candidate() -> impl Strategy<Value = Candidate> {
        (
            any::<bool>(),
            0..6i32,
            0..7i32,
            proptest::sample::subsequence(vec!["billing".to_owned(), "tech".to_owned()], 0..=2),
            proptest::sample::subsequence(vec!["en".to_owned(), "nl".to_owned(), "pt".to_owned()], 0..=3),
            proptest::option::of(0..1000i64),
        )
            .prop_map(|(available, capacity, load, skills, languages, last)| Candidate {
                id: Uuid::new_v4(),
                available,
                capacity,
                load: load.min(capacity),
                skills,
                languages,
                last_assigned_at: last.map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap()),
                turn_at: last.map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap()),
            })
    }

    fn strategy() -> impl proptest::strategy::Strategy<Value = S> {
        prop_oneof![Just(S::LeastLoaded), Just(S::RoundRobin)]
    }

    proptest! {
        #[test]
        fn only_eligible_agents_are_offered_and_all_of_them(
            candidates in proptest::collection::vec(candidate(), 0..30),
            strategy in strategy(),
            skill in proptest::option::of(prop_oneof![Just("billing".to_owned()), Just("tech".to_owned())]),
            language in proptest::option::of(prop_oneof![Just("en"), Just("nl-NL"), Just("pt-BR")]),
        ) {
            let skills: Vec<String> = skill.into_iter().collect();
            let req = Requirements { skills: &skills, language, preferred: None };
            let order = rank(strategy, &candidates, &req);
            for &i in &order {
                let c = &candidates[i];
                prop_assert!(c.available && c.load < c.capacity);
                prop_assert!(skills.iter().all(|s| c.skills.contains(s)));
                if let Some(lang) = language {
                    let primary = &lang[..2];
                    prop_assert!(c.languages.iter().any(|l| l == primary));
                }
            }
            let eligible_count = candidates.iter().filter(|c| eligible(c, &req)).count();
            prop_assert_eq!(order.len(), eligible_count);
        }

        #[test]
        fn assigning_until_full_never_exceeds_capacity(
            mut candidates in proptest::collection::vec(candidate(), 1..20),
            strategy in strategy(),
            arrivals in 0..200usize,
        ) {
            let mut clock = 10_000i64;
            for _ in 0..arrivals {
                let order = rank(strategy, &candidates, &Requirements::default());
                let Some(&pick) = order.first() else { break };
                clock += 1;
                let c = &mut candidates[pick];
                c.load += 1;
                c.last_assigned_at = Some(OffsetDateTime::from_unix_timestamp(clock).unwrap());
                c.turn_at = c.last_assigned_at;
            }
            for c in &candidates {
                prop_assert!(c.load <= c.capacity);
            }
        }

        #[test]
        fn least_loaded_picks_a_minimum(
            candidates in proptest::collection::vec(candidate(), 1..30),
        ) {
            let order = rank(S::LeastLoaded, &candidates, &Requirements::default());
            if let Some(&pick) = order.first() {
                let p = &candidates[pick];
                for c in candidates.iter().filter(|c| eligible(c, &Requirements::default())) {
                    // p.load / p.capacity <= c.load / c.capacity
                    prop_assert!(i64::from(p.load) * i64::from(c.capacity) <= i64::from(c.load) * i64::from(p.capacity));
                    if i64::from(p.load) * i64::from(c.capacity) == i64::from(c.load) * i64::from(p.capacity) {
                        // Ties go to whoever has waited longest since their last assignment.
                        let t = |x: &Candidate| x.last_assigned_at.map(|t| t.unix_timestamp()).unwrap_or(i64::MIN);
                        prop_assert!(t(p) <= t(c));
                    }
                }
            }
        }

        #[test]
        fn round_robin_is_fair_over_whole_cycles(
            members in 1..12usize,
            cycles in 1..8usize,
            start in proptest::collection::vec(proptest::option::of(0..1000i64), 12),
        ) {
            // Plenty of capacity, everyone available: over `cycles` full rounds each member gets exactly
            // `cycles` conversations, whatever turns they had before.
            let mut candidates: Vec<Candidate> = (0..members).map(|i| Candidate {
                id: Uuid::new_v4(),
                available: true,
                capacity: 100,
                load: (i % 3) as i32,
                skills: vec![],
                languages: vec![],
                last_assigned_at: None,
                turn_at: start[i].map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap()),
            }).collect();
            let mut got = vec![0usize; members];
            let mut clock = 10_000i64;
            for _ in 0..members * cycles {
                let pick = rank(S::RoundRobin, &candidates, &Requirements::default())[0];
                got[pick] += 1;
                clock += 1;
                candidates[pick].turn_at = Some(OffsetDateTime::from_unix_timestamp(clock).unwrap());
            }
            prop_assert!(got.iter().all(|&n| n == cycles), "{:?}", got);
        }

        #[test]
        fn the_last_agent_goes_first_only_when_eligible(
            candidates in proptest::collection::vec(candidate(), 1..20),
            strategy in strategy(),
            which in 0..20usize,
        ) {
            let preferred = candidates[which % candidates.len()].clone();
            let req = Requirements { preferred: Some(preferred.id), ..Requirements::default() };
            let order = rank(strategy, &candidates, &req);
            if eligible(&preferred, &req) {
                prop_assert_eq!(candidates[order[0]].id, preferred.id);
            } else {
                prop_assert!(order.iter().all(|&i| candidates[i].id != preferred.id));
            }
        }
    }
}
