//! Walking a company's hash chain. The database chains each row as it is written (trigger
//! `audit_log_chain`, migration 0013); this reads a chain back in order and checks that
//! every row still hashes to its stored hash, links to the row before it, and that nothing
//! is missing at either end beyond what retention recorded removing.
use super::{ChainBreak, ChainReport};
use crate::error::AppError;
use sqlx::PgConnection;
use uuid::Uuid;

/// The platform chain (events with no company) is stored under the nil UUID.
pub const PLATFORM_CHAIN: Uuid = Uuid::nil();

struct Head {
    last_seq: i64,
    last_hash: Option<Vec<u8>>,
    pruned_through_seq: i64,
}

async fn head(conn: &mut PgConnection, chain: Uuid) -> Result<Head, AppError> {
    let row = sqlx::query!(
        "SELECT last_seq, last_hash, pruned_through_seq FROM audit_chain_heads WHERE chain_id = $1",
        chain
    )
    .fetch_optional(conn)
    .await?;
    Ok(row
        .map(|r| Head { last_seq: r.last_seq, last_hash: r.last_hash, pruned_through_seq: r.pruned_through_seq })
        .unwrap_or(Head { last_seq: 0, last_hash: None, pruned_through_seq: 0 }))
}

/// Verifies one chain as far as its head at the start of the walk (rows appended during
/// the walk are left for the next one). `name` labels the report.
pub async fn verify(conn: &mut PgConnection, chain: Uuid, name: &str) -> Result<ChainReport, AppError> {
    use futures::TryStreamExt;
    let head = head(conn, chain).await?;
    let company = (chain != PLATFORM_CHAIN).then_some(chain);
    let mut report = ChainReport { chain: name.to_string(), rows: 0, head: None, broken: None };
    let mut expected_seq = head.pruned_through_seq + 1;
    let mut previous: Option<Vec<u8>> = None;
    let mut first = true;
    {
        // The stored hash is compared with one recomputed from the row's columns by the
        // same function the trigger used.
        let mut rows = sqlx::query!(
            r#"SELECT a.id, a.chain_seq, a.prev_hash, a.hash, atrium_audit_row_hash(a) AS "computed!"
                 FROM audit_log a
                WHERE a.company_id IS NOT DISTINCT FROM $1 AND a.chain_seq <= $2
                ORDER BY a.chain_seq"#,
            company,
            head.last_seq,
        )
        .fetch(&mut *conn);
        while let Some(r) = rows.try_next().await? {
            let at = format!("row {} (#{} in the chain)", r.id, r.chain_seq);
            let broken = if r.chain_seq != expected_seq {
                Some(if first && r.chain_seq > expected_seq {
                    format!(
                        "rows #{}\u{2013}#{} are missing from the start of the chain; retention removed only up to #{}",
                        expected_seq,
                        r.chain_seq - 1,
                        head.pruned_through_seq
                    )
                } else if r.chain_seq > expected_seq {
                    format!("the row before {at} is missing: #{} was expected", expected_seq)
                } else {
                    format!("{at} appears twice or out of order: #{} was expected", expected_seq)
                })
            } else if r.computed != r.hash {
                Some(format!("{at} was altered: its contents no longer match its hash"))
            } else if !first && r.prev_hash != previous {
                Some(format!("{at} does not link to the row before it: the chain was reordered or rewritten"))
            } else {
                None
            };
            if let Some(reason) = broken {
                report.broken = Some(ChainBreak { row_id: Some(r.id), seq: r.chain_seq, reason });
                return Ok(report);
            }
            first = false;
            report.rows += 1;
            expected_seq = r.chain_seq + 1;
            previous = Some(r.hash);
        }
    }
    if expected_seq <= head.last_seq {
        // Rows pruned while we walked would look like a missing start; look again.
        let now = self::head(conn, chain).await?;
        if !(report.rows == 0 && now.pruned_through_seq >= head.last_seq) {
            report.broken = Some(ChainBreak {
                row_id: None,
                seq: expected_seq,
                reason: format!("the newest rows #{}\u{2013}#{} are missing", expected_seq, head.last_seq),
            });
            return Ok(report);
        }
    }
    if previous.is_some() && previous != head.last_hash {
        report.broken = Some(ChainBreak {
            row_id: None,
            seq: head.last_seq,
            reason: "the newest row's hash does not match the chain's recorded head".into(),
        });
        return Ok(report);
    }
    report.head = head.last_hash.map(hex::encode);
    Ok(report)
}

/// Every chain the connection can see, platform last, as (chain id, name).
pub async fn chains(conn: &mut PgConnection) -> Result<Vec<(Uuid, String)>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT h.chain_id, coalesce(c.name, CASE WHEN h.chain_id = $1 THEN 'Platform' ELSE h.chain_id::text END) AS "name!"
             FROM audit_chain_heads h LEFT JOIN companies c ON c.id = h.chain_id
            ORDER BY h.chain_id = $1, lower(c.name)"#,
        PLATFORM_CHAIN
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.chain_id, r.name)).collect())
}
