//! Reports' SQL: the summary's and the series' aggregations here; what the reports job reads and writes in
//! [`job`] (src/reports/ holds the rules).

pub mod job;

use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// What a summary is taken over: the period, the day's time zone, filters (already limited to what the caller
/// may see) and the grouping.
#[derive(Debug, Clone)]
pub struct Scope {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub tz: String,
    pub number_id: Option<Uuid>,
    pub channel_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub tag_id: Option<Uuid>,
    pub group: Group,
    /// Rows per time bucket instead (a series): overrides `group`.
    pub bucket: Option<Interval>,
}

impl Scope {
    /// The row's key as SQL: a series' bucket, else the group's.
    fn key(&self, time: &str) -> String {
        match self.bucket {
            Some(_) => bucket_number(time),
            None => self.group.key(time),
        }
    }

    /// Whether rows are time buckets (a series, or days), found by [`Reads::bounds`].
    pub fn by_bucket(&self) -> Option<Interval> {
        self.bucket.or((self.group == Group::Day).then_some(Interval::Day))
    }
}

/// The number of the bucket `time` falls in (1 for the first), from `$8`, the starts of the period's days, hours
/// or weeks in its time zone: a binary search per row, cheaper than converting every row's time to the zone.
fn bucket_number(time: &str) -> String {
    format!("width_bucket({time}, $8::timestamptz[])")
}

/// A series' time buckets, keyed by their start in the summary's time zone: `YYYY-MM-DDTHH:00`, the day, or the
/// Monday that starts the (ISO) week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Hour,
    Day,
    Week,
}

/// What a summary's rows are: one row per value of this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    None,
    Agent,
    Queue,
    Number,
    Channel,
    Tag,
    Day,
    Hour,
    Weekday,
}

impl Group {
    /// The row's key as SQL over a table aliased `f` with `at` or `bucket` as `time` (a fixed expression per
    /// group: nothing the caller sends becomes SQL), grouped as it is (a uuid or a number sorts faster than its
    /// text) and read as text.
    fn key(self, time: &str) -> String {
        match self {
            Self::None => "'all'".into(),
            Self::Agent => "f.agent_id".into(),
            Self::Queue => "f.queue_id".into(),
            Self::Number => "f.number_id".into(),
            Self::Channel => "f.channel_id".into(),
            Self::Tag => "t.tag_id".into(),
            Self::Day => bucket_number(time),
            Self::Hour => format!("to_char({time} AT TIME ZONE $3, 'HH24')"),
            Self::Weekday => format!("extract(isodow FROM {time} AT TIME ZONE $3)::int"),
        }
    }
}

/// A duration's figures: count, average, median, 90th percentile, and the same three in business hours.
pub type DurationFigures = (i64, Option<f64>, Option<f64>, Option<f64>, Option<f64>, Option<f64>, Option<f64>);

/// The fact-based figures of one row of a summary.
#[derive(Debug, Default)]
pub struct FactRow {
    pub key: Option<String>,
    /// The total of every group (see [`Reads::total`]), not a group.
    pub total: bool,
    pub created: i64,
    pub resolved: i64,
    pub reopened: i64,
    pub first_response: DurationFigures,
    pub resolution: DurationFigures,
    pub queue_wait: DurationFigures,
    pub handle: DurationFigures,
    pub unanswered: i64,
    pub ai_resolved: i64,
    pub handovers: i64,
    pub csat_sent: i64,
    pub csat_rated: i64,
    pub csat_avg: Option<f64>,
    pub csat_satisfied: i64,
    pub sla_frt_n: i64,
    pub sla_frt_met: i64,
    pub sla_res_n: i64,
    pub sla_res_met: i64,
}

fn push_filters(q: &mut QueryBuilder<'_, Postgres>, s: &Scope) {
    q.push(" AND ($4::uuid IS NULL OR f.number_id = $4) AND ($5::uuid IS NULL OR f.channel_id = $5)");
    q.push(" AND ($6::uuid IS NULL OR f.queue_id = $6) AND ($7::uuid IS NULL OR f.agent_id = $7)");
    q.push(" AND $8::timestamptz[] IS NOT NULL");
    if s.tag_id.is_some() {
        q.push(
            " AND EXISTS (SELECT 1 FROM conversation_tags ct WHERE ct.conversation_id = f.conversation_id \
             AND ct.tag_id = $9)",
        );
    }
}

/// What one query reads for a summary or a series.
#[derive(Debug, Clone, Copy)]
pub struct Reads<'a> {
    /// Only the facts of these metrics (a series shows one figure); `None`: all of them.
    pub metrics: Option<&'static [&'static str]>,
    /// The starts of the time buckets when rows are buckets ([`Scope::by_bucket`]; empty otherwise), which are
    /// then keyed by the bucket's number.
    pub bounds: &'a [OffsetDateTime],
    /// The total of every group as well, in the same pass (`GROUPING SETS`): a row whose `total` is true. Not for
    /// a grouping by tag, where a conversation with two tags is in two groups but must count once in the total.
    pub total: bool,
}

/// The key's SQL (`key` and `total`, the first two columns) and how the rows are grouped: by the key, and by
/// `also` too when given (the query's third column).
fn grouping(s: &Scope, time: &str, reads: Reads<'_>, also: Option<&str>) -> (String, String) {
    let key = s.key(time);
    // A constant (no grouping) is grouped by its position: PostgreSQL refuses a constant in GROUP BY.
    let by = if key.starts_with('\'') { "1".to_owned() } else { key.clone() };
    match (reads.total, also) {
        (true, None) => (
            format!("({key})::text AS key, grouping({key}) = 1 AS total"),
            format!(" GROUP BY GROUPING SETS (({key}), ())"),
        ),
        (true, Some(c)) => (
            format!("({key})::text AS key, grouping({key}) = 1 AS total"),
            format!(" GROUP BY GROUPING SETS (({key}, {c}), ({c}))"),
        ),
        (false, None) => (format!("({key})::text AS key, false AS total"), format!(" GROUP BY {by}")),
        (false, Some(c)) => (format!("({key})::text AS key, false AS total"), format!(" GROUP BY {by}, {c}")),
    }
}

/// One metric's figures in one row: what the database aggregates, before [`fact_rows`] puts a row's metrics side
/// by side.
#[derive(Debug, FromRow)]
struct MetricFigures {
    key: Option<String>,
    total: bool,
    metric: String,
    n: i64,
    avg: Option<f64>,
    p50: Option<f64>,
    p90: Option<f64>,
    b_avg: Option<f64>,
    b_p50: Option<f64>,
    b_p90: Option<f64>,
    value_avg: Option<f64>,
    value_high: i64,
    sla_n: i64,
    sla_met: i64,
}

/// The fact-based figures per row. The database groups by row and metric, so each aggregate runs over its own
/// metric's facts with no per-metric filter; percentiles sort only the facts that have a duration.
pub async fn fact_rows(pool: &PgPool, s: &Scope, reads: Reads<'_>) -> sqlx::Result<Vec<FactRow>> {
    let (key, group_by) = grouping(s, "f.at", reads, Some("f.metric"));
    // A column no metric read has is a constant: without durations nothing is sorted for percentiles (and the
    // database can group by hashing); with counts only, the index on (metric, at) answers alone.
    let reads_any = |these: &[&str]| reads.metrics.is_none_or(|m| m.iter().any(|x| these.contains(x)));
    let durations = reads_any(&["first_response", "resolution", "queue_wait", "handle"]);
    let rated = reads_any(&["csat_rated"]);
    let sla = reads_any(&["first_response", "unanswered", "resolution"]);
    let or = |read: bool, sql: String, empty: &str| if read { sql } else { empty.to_owned() };
    let percentile = |q: &str, column: &str| {
        let sql = format!("percentile_cont({q}) WITHIN GROUP (ORDER BY {column}) FILTER (WHERE {column} IS NOT NULL)");
        or(durations, sql, "NULL::float8")
    };
    let mut sql = format!(
        "SELECT {key}, f.metric, count(*) AS n, {} AS avg, {} AS p50, {} AS p90, {} AS b_avg, {} AS b_p50,
                {} AS b_p90, {} AS value_avg, {} AS value_high, {} AS sla_n, {} AS sla_met
         FROM report_facts f",
        or(durations, "avg(secs)::float8".into(), "NULL::float8"),
        percentile("0.5", "secs"),
        percentile("0.9", "secs"),
        or(durations, "avg(business_secs)::float8".into(), "NULL::float8"),
        percentile("0.5", "business_secs"),
        percentile("0.9", "business_secs"),
        or(rated, "avg(value)::float8".into(), "NULL::float8"),
        or(rated, "count(*) FILTER (WHERE value >= 4)".into(), "0::int8"),
        or(sla, "count(sla_met)".into(), "0::int8"),
        or(sla, "count(*) FILTER (WHERE sla_met)".into(), "0::int8"),
    );
    if s.group == Group::Tag {
        sql.push_str(" LEFT JOIN conversation_tags t ON t.conversation_id = f.conversation_id");
    }
    sql.push_str(" WHERE f.at >= $1 AND f.at < $2 AND $3::text IS NOT NULL");
    let mut q = QueryBuilder::new(sql);
    push_filters(&mut q, s);
    if let Some(metrics) = reads.metrics {
        // Fixed names from the code, never from the caller.
        q.push(format!(" AND f.metric IN ('{}')", metrics.join("', '")));
    }
    q.push(group_by);
    let q = q.build_query_as::<MetricFigures>();
    let figures = bind_scope(q, s, reads.bounds).fetch_all(pool).await?;
    let mut rows: Vec<FactRow> = Vec::new();
    let mut index: HashMap<(Option<String>, bool), usize> = HashMap::new();
    for m in figures {
        let i = *index.entry((m.key.clone(), m.total)).or_insert_with(|| {
            rows.push(FactRow { key: m.key.clone(), total: m.total, ..FactRow::default() });
            rows.len() - 1
        });
        let r = &mut rows[i];
        let durations = (m.n, m.avg, m.p50, m.p90, m.b_avg, m.b_p50, m.b_p90);
        match m.metric.as_str() {
            "created" => r.created = m.n,
            "resolved" => r.resolved = m.n,
            "reopened" => r.reopened = m.n,
            "unanswered" => r.unanswered = m.n,
            "ai_resolved" => r.ai_resolved = m.n,
            "handover" => r.handovers = m.n,
            "csat_sent" => r.csat_sent = m.n,
            "csat_rated" => {
                r.csat_rated = m.n;
                r.csat_avg = m.value_avg;
                r.csat_satisfied = m.value_high;
            }
            "first_response" => r.first_response = durations,
            "resolution" => r.resolution = durations,
            "queue_wait" => r.queue_wait = durations,
            "handle" => r.handle = durations,
            _ => {}
        }
        match m.metric.as_str() {
            "first_response" | "unanswered" => {
                r.sla_frt_n += m.sla_n;
                r.sla_frt_met += m.sla_met;
            }
            "resolution" => {
                r.sla_res_n = m.sla_n;
                r.sla_res_met = m.sla_met;
            }
            _ => {}
        }
    }
    Ok(rows)
}

/// Hand-overs per row and reason.
pub async fn handovers(
    pool: &PgPool,
    s: &Scope,
    reads: Reads<'_>,
) -> sqlx::Result<Vec<(Option<String>, bool, Option<String>, i64)>> {
    let (key, group_by) = grouping(s, "f.at", reads, Some("f.reason"));
    let mut sql = format!("SELECT {key}, f.reason, count(*) FROM report_facts f");
    if s.group == Group::Tag {
        sql.push_str(" LEFT JOIN conversation_tags t ON t.conversation_id = f.conversation_id");
    }
    sql.push_str(" WHERE f.metric = 'handover' AND f.at >= $1 AND f.at < $2 AND $3::text IS NOT NULL");
    let mut q = QueryBuilder::new(sql);
    push_filters(&mut q, s);
    q.push(group_by);
    let q = q.build_query_as::<(Option<String>, bool, Option<String>, i64)>();
    bind_scope(q, s, reads.bounds).fetch_all(pool).await
}

/// The SLA breaches in the period (first responses or resolutions over their queue's target, and customers
/// never answered), newest first, at most `limit`.
#[derive(Debug, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Breach {
    pub conversation_id: Uuid,
    /// `first_response`, `unanswered` or `resolution`.
    pub metric: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub queue_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub secs: Option<i64>,
    pub business_secs: Option<i64>,
}

pub async fn breaches(pool: &PgPool, s: &Scope, limit: i64) -> sqlx::Result<Vec<Breach>> {
    let mut q = QueryBuilder::new(
        "SELECT f.conversation_id, f.metric, f.at, f.queue_id, f.agent_id, f.secs, f.business_secs
         FROM report_facts f WHERE f.sla_met = false AND f.at >= $1 AND f.at < $2 AND $3::text IS NOT NULL",
    );
    push_filters(&mut q, s);
    q.push(" ORDER BY f.at DESC LIMIT ");
    q.push(limit.to_string());
    let q = q.build_query_as::<Breach>();
    bind_scope(q, s, &[]).fetch_all(pool).await
}

/// Message volumes per row: by author.
#[derive(Debug, Default, FromRow)]
pub struct MessageRow {
    pub key: Option<String>,
    pub total: bool,
    pub customer: i64,
    pub agent: i64,
    pub ai: i64,
    pub automation: i64,
    pub notification: i64,
    pub api: i64,
}

/// `None` when the grouping or a filter is by tag: the counts are not kept per conversation.
pub async fn message_rows(pool: &PgPool, s: &Scope, reads: Reads<'_>) -> sqlx::Result<Option<Vec<MessageRow>>> {
    if s.group == Group::Tag || s.tag_id.is_some() {
        return Ok(None);
    }
    let (key, group_by) = grouping(s, "f.bucket", reads, None);
    let mut sql = format!("SELECT {key}");
    for author in ["customer", "agent", "ai", "automation", "notification", "api"] {
        sql.push_str(&format!(", coalesce(sum(n) FILTER (WHERE author = '{author}'), 0)::int8 AS {author}"));
    }
    // The counts are kept per number: the channel is looked up only when asked for.
    if s.group == Group::Channel || s.channel_id.is_some() {
        sql.push_str(
            " FROM (SELECT m.*, n.channel_id FROM report_message_counts m JOIN whatsapp_numbers n ON n.id = m.number_id) f",
        );
    } else {
        sql.push_str(" FROM (SELECT m.*, NULL::uuid AS channel_id FROM report_message_counts m) f");
    }
    sql.push_str(" WHERE f.bucket >= $1 AND f.bucket < $2 AND $3::text IS NOT NULL");
    let mut q = QueryBuilder::new(sql);
    push_filters(&mut q, s);
    q.push(group_by);
    let q = q.build_query_as::<MessageRow>();
    Ok(Some(bind_scope(q, s, reads.bounds).fetch_all(pool).await?))
}

/// Seconds each agent spent online and away within the period (from their presence changes).
pub async fn presence(pool: &PgPool, s: &Scope) -> sqlx::Result<Vec<(Uuid, String, f64)>> {
    sqlx::query_as(
        "WITH log AS (
             SELECT user_id, presence, at, lead(at) OVER (PARTITION BY user_id ORDER BY at, id) AS until
             FROM presence_log WHERE at < $2 AND ($3::uuid IS NULL OR user_id = $3))
         SELECT user_id, presence,
                sum(extract(epoch FROM least(coalesce(until, now()), $2) - greatest(at, $1)))::float8
         FROM log WHERE coalesce(until, now()) > $1 AND presence <> 'offline' AND least(coalesce(until, now()), $2) > greatest(at, $1)
         GROUP BY 1, 2",
    )
    .bind(s.from)
    .bind(s.to)
    .bind(s.agent_id)
    .fetch_all(pool)
    .await
}

/// Binds `$1`–`$9`: the period, the time zone, the filters, the bucket bounds (empty when unused) and the tag.
fn bind_scope<'q, O>(
    q: sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments>,
    s: &'q Scope,
    bounds: &'q [OffsetDateTime],
) -> sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments> {
    let q =
        q.bind(s.from).bind(s.to).bind(&s.tz).bind(s.number_id).bind(s.channel_id).bind(s.queue_id).bind(s.agent_id);
    let q = q.bind(bounds);
    if s.tag_id.is_some() {
        q.bind(s.tag_id)
    } else {
        q
    }
}

/// The names of everything a summary's rows may be: agents, queues, numbers, channels and tags.
pub async fn names(pool: &PgPool) -> sqlx::Result<Vec<(Uuid, String)>> {
    sqlx::query_as(
        "SELECT id, coalesce(nullif(name, ''), email) FROM users
         UNION ALL SELECT id, name FROM queues
         UNION ALL SELECT id, name || ' ' || e164 FROM whatsapp_numbers
         UNION ALL SELECT id, name FROM channels
         UNION ALL SELECT id, name FROM tags",
    )
    .fetch_all(pool)
    .await
}
