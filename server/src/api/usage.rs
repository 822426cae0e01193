//! Usage bookkeeping without a write per request: requests are counted in memory, per key,
//! endpoint, caller and minute, and flushed in one batch at most a second later
//! (DESIGN.md, defect 5). `last_used_at` rides along in the same batch.
use sqlx::types::ipnetwork::IpNetwork;
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Distinct callers (address and user agent) recorded per key per day by one process; later
/// callers that day are counted under "other", so a client that varies its User-Agent cannot
/// grow the table without bound.
pub const CALLERS_PER_KEY_PER_DAY: usize = 50;
/// What the callers beyond the cap are recorded as.
pub const OTHER_CALLER: &str = "other";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Bucket {
    key: Uuid,
    company: Uuid,
    minute: i64,
    endpoint: &'static str,
    ip: Option<IpAddr>,
    user_agent: Option<String>,
}

#[derive(Default)]
struct Pending {
    counts: HashMap<Bucket, i64>,
    last_used: HashMap<Uuid, OffsetDateTime>,
    /// The callers already recorded per key and day (kept across flushes, pruned daily).
    callers: HashMap<(Uuid, i64), HashSet<(Option<IpAddr>, Option<String>)>>,
}

pub struct Usage {
    pool: PgPool,
    pending: Mutex<Pending>,
}

impl Usage {
    /// `pool` writes across companies (the schema owner's, like other maintenance work).
    pub fn new(pool: PgPool) -> Usage {
        Usage { pool, pending: Mutex::new(Pending::default()) }
    }

    pub fn record(&self, key: Uuid, company: Uuid, endpoint: &'static str, ip: Option<IpAddr>, ua: Option<&str>) {
        let now = OffsetDateTime::now_utc();
        let minute = now.unix_timestamp().div_euclid(60);
        let mut caller = (ip, ua.map(|u| u.chars().take(512).collect::<String>()));
        let mut p = self.pending.lock().expect("usage lock");
        let seen = p.callers.entry((key, minute.div_euclid(24 * 60))).or_default();
        if !seen.contains(&caller) {
            if seen.len() < CALLERS_PER_KEY_PER_DAY {
                seen.insert(caller.clone());
            } else {
                caller = (None, Some(OTHER_CALLER.to_string()));
            }
        }
        let bucket = Bucket { key, company, minute, endpoint, ip: caller.0, user_agent: caller.1 };
        *p.counts.entry(bucket).or_insert(0) += 1;
        p.last_used.insert(key, now);
    }

    /// Writes what has been counted; returns the number of requests written.
    pub async fn flush(&self) -> Result<i64, sqlx::Error> {
        let taken = {
            let mut p = self.pending.lock().expect("usage lock");
            let today = OffsetDateTime::now_utc().unix_timestamp().div_euclid(24 * 3600);
            p.callers.retain(|(_, day), _| *day >= today - 1);
            Pending {
                counts: std::mem::take(&mut p.counts),
                last_used: std::mem::take(&mut p.last_used),
                callers: HashMap::new(),
            }
        };
        if taken.counts.is_empty() {
            return Ok(0);
        }
        match self.write(&taken).await {
            Ok(n) => Ok(n),
            Err(e) => {
                // Keep the counts for the next tick rather than lose them.
                let mut p = self.pending.lock().expect("usage lock");
                for (b, n) in taken.counts {
                    *p.counts.entry(b).or_insert(0) += n;
                }
                for (k, t) in taken.last_used {
                    let e = p.last_used.entry(k).or_insert(t);
                    *e = (*e).max(t);
                }
                Err(e)
            }
        }
    }

    async fn write(&self, p: &Pending) -> Result<i64, sqlx::Error> {
        let n = p.counts.len();
        let (mut keys, mut companies, mut at, mut endpoints, mut ips, mut uas, mut counts) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut total = 0;
        for (b, c) in &p.counts {
            keys.push(b.key);
            companies.push(b.company);
            at.push(OffsetDateTime::from_unix_timestamp(b.minute * 60).unwrap_or(OffsetDateTime::UNIX_EPOCH));
            endpoints.push(b.endpoint.to_string());
            ips.push(b.ip.map(IpNetwork::from));
            uas.push(b.user_agent.clone());
            counts.push(i32::try_from(*c).unwrap_or(i32::MAX));
            total += c;
        }
        let (used_keys, used_at): (Vec<Uuid>, Vec<OffsetDateTime>) = p.last_used.iter().map(|(k, t)| (*k, *t)).unzip();
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            r#"INSERT INTO api_key_usage (api_key_id, company_id, used_at, endpoint, ip_address, user_agent, request_count)
               SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::inet[], $6::text[], $7::int[])"#,
            &keys,
            &companies,
            &at,
            &endpoints,
            &ips as &[Option<IpNetwork>],
            &uas as &[Option<String>],
            &counts,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            r#"UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, u.at)
                 FROM UNNEST($1::uuid[], $2::timestamptz[]) AS u(id, at) WHERE k.id = u.id"#,
            &used_keys,
            &used_at,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(total)
    }
}

/// Flushes every second until `stop` fires, then once more, so a clean shutdown loses
/// nothing.
pub async fn run(
    usage: std::sync::Arc<Usage>,
    limiter: std::sync::Arc<super::limit::RateLimiter>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if let Err(e) = usage.flush().await {
            tracing::warn!("api usage flush failed (kept for the next try): {e}");
        }
        limiter.prune();
    }
    if let Err(e) = usage.flush().await {
        tracing::error!("api usage flush at shutdown failed: {e}");
    }
}
