//! The built-in bot's decision time: an AI agent with 1,000 question/answer pairs in three languages (English,
//! Spanish, Portuguese; two keywords each), asked 20,000 customer messages (half paraphrases of a question,
//! half about something else). Prints the index build time and the per-message decision time (retrieval and
//! the person-request check, as the `ai.reply` job runs them) at p50, p99 and max.
//!
//! Run: `cargo bench --bench ai_bot`.

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;
use switchboard::ai::bot::Index;
use switchboard::domain::ai::Pair;

const PAIRS: usize = 1_000;
const MESSAGES: usize = 20_000;

/// A vocabulary of word-like strings per language (syllables of that language), deterministic.
fn vocabulary(rng: &mut StdRng, syllables: &[&str], n: usize) -> Vec<String> {
    (0..n)
        .map(|_| (0..rng.gen_range(2..4)).map(|_| syllables[rng.gen_range(0..syllables.len())]).collect::<String>())
        .collect()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut rng = StdRng::seed_from_u64(16);
    let languages: [(&str, &[&str], &[&str]); 3] = [
        (
            "en",
            &["ship", "ping", "or", "der", "ret", "urn", "pay", "ment", "ac", "count", "de", "liv", "er", "y"],
            &["how", "do", "i", "the", "my", "what", "is", "can", "you"],
        ),
        (
            "es",
            &["en", "ví", "o", "pe", "di", "do", "de", "vo", "lu", "ción", "pa", "go", "cuen", "ta"],
            &["cómo", "el", "la", "mi", "qué", "es", "puedo", "de", "un"],
        ),
        (
            "pt",
            &["en", "tre", "ga", "pe", "di", "do", "de", "vo", "lu", "ção", "pa", "ga", "men", "to"],
            &["como", "o", "a", "meu", "qual", "é", "posso", "de", "um"],
        ),
    ];
    let vocab: Vec<Vec<String>> = languages.iter().map(|(_, syl, _)| vocabulary(&mut rng, syl, 3_000)).collect();
    let mut pairs = Vec::with_capacity(PAIRS);
    for i in 0..PAIRS {
        let l = i % 3;
        let (_, _, stop) = languages[l];
        let words: Vec<String> = (0..rng.gen_range(5..10))
            .map(|k| {
                if k % 3 == 0 {
                    stop[rng.gen_range(0..stop.len())].to_owned()
                } else {
                    vocab[l][rng.gen_range(0..3_000)].clone()
                }
            })
            .collect();
        pairs.push(Pair {
            question: words.join(" ") + "?",
            answer: format!("Answer {i}."),
            keywords: (0..2).map(|_| vocab[l][rng.gen_range(0..3_000)].clone()).collect(),
        });
    }
    let langs: Vec<String> = languages.iter().map(|(l, _, _)| (*l).to_owned()).collect();
    let started = Instant::now();
    let index = Index::build(&pairs, &langs, &[]);
    let build = started.elapsed();

    // (message, the pair it paraphrases)
    let messages: Vec<(String, Option<usize>)> = (0..MESSAGES)
        .map(|i| {
            let l = i % 3;
            if i % 2 == 0 {
                // A paraphrase: the question with a word dropped and a word added.
                let p = rng.gen_range(0..PAIRS);
                let mut words: Vec<&str> = pairs[p].question.split(' ').collect();
                words.remove(rng.gen_range(0..words.len()));
                words.push(languages[p % 3].2[0]);
                (words.join(" "), Some(p))
            } else {
                let n = rng.gen_range(3..12);
                let words: Vec<&str> = (0..n).map(|_| vocab[l][rng.gen_range(0..3_000)].as_str()).collect();
                (words.join(" "), None)
            }
        })
        .collect();
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let (mut right, mut other) = (0, 0);
    for (m, paraphrased) in &messages {
        let t = Instant::now();
        let person = index.asks_for_person(m);
        let best = index.best(m);
        hist.record(t.elapsed().as_nanos() as u64).unwrap();
        match (best.filter(|b| !person && b.confidence >= 0.5), paraphrased) {
            (Some(b), Some(p)) if b.index == *p => right += 1,
            (Some(_), None) => other += 1,
            _ => {}
        }
    }
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!("built-in bot — {PAIRS} question/answer pairs (en, es, pt), {MESSAGES} messages");
    println!("  index built in       {:.1} ms", build.as_secs_f64() * 1000.0);
    println!("  decision µs          p50 {:.1}  p99 {:.1}  max {:.1}", us(0.5), us(0.99), hist.max() as f64 / 1000.0);
    println!("  paraphrases          {right} of {} answered from the right pair (confidence ≥ 0.5)", MESSAGES / 2);
    println!("  random words         {other} of {} answered (they share words with some question)", MESSAGES / 2);
}
