//! Export: exactly the viewer's filter, as CSV or JSON Lines, streamed. A task owns the
//! read transaction and fills 64 KiB chunks into a small bounded channel, so memory stays
//! flat whatever the row count, and a client that goes away stops the query.
pub use super::export_gate::{ExportGate, ExportPass, EXPORT_RETRY_SECONDS};
use super::query::{matching, plan_per_query, Filter};
use super::Severity;
use crate::db::Tx;
use serde::Serialize;
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" | "" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Jsonl => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

const CHUNK: usize = 64 * 1024;

pub const CSV_HEADER: &str = "id,timestamp,company,actor_email,actor_role,action,resource,resource_id,severity,\
ip,user_agent,session_id,request_id,details,chain_seq,hash\r\n";

/// One CSV cell. Quoted when it holds a comma, quote or line break; a cell a spreadsheet
/// would run as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) is
/// prefixed with `'` so it stays text (OWASP's CSV injection advice).
pub fn csv_cell(out: &mut String, value: &str) {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || value.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
        if formula {
            out.push('\'');
        }
        for ch in value.chars() {
            if ch == '"' {
                out.push('"');
            }
            out.push(ch);
        }
        out.push('"');
    } else {
        out.push_str(value);
    }
}

#[derive(Serialize)]
struct JsonRow<'a> {
    id: i64,
    timestamp: &'a str,
    company: Option<&'a str>,
    actor: JsonActor<'a>,
    action: &'a str,
    resource: &'a str,
    resource_id: Option<&'a str>,
    severity: Severity,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    session_id: Option<&'a str>,
    request_id: Option<&'a str>,
    details: &'a RawValue,
    chain_seq: i64,
    hash: &'a str,
}

#[derive(Serialize)]
struct JsonActor<'a> {
    email: Option<&'a str>,
    role: Option<&'a str>,
}

pub type Chunk = Result<Vec<u8>, std::io::Error>;

/// Starts the export on its own task and returns the stream of chunks. `company` is the
/// resolved company condition (see `query::company_condition`).
pub fn spawn(
    tx: Tx,
    company: Option<Uuid>,
    filter: Filter,
    format: Format,
    pass: ExportPass,
) -> impl futures::Stream<Item = Chunk> + Send + 'static {
    let (send, recv) = tokio::sync::mpsc::channel::<Chunk>(4);
    tokio::spawn(async move {
        let _pass = pass;
        if let Err(e) = run(tx, company, filter, format, &send).await {
            tracing::warn!("audit export stopped: {e}");
            let _ = send.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    futures::stream::unfold(recv, |mut recv| async move { recv.recv().await.map(|chunk| (chunk, recv)) })
}

#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("{0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    App(#[from] crate::error::AppError),
    #[error("the client went away")]
    Gone,
}

async fn run(
    mut tx: Tx,
    company: Option<Uuid>,
    f: Filter,
    format: Format,
    send: &tokio::sync::mpsc::Sender<Chunk>,
) -> Result<(), Stop> {
    use futures::TryStreamExt;
    plan_per_query(&mut tx).await?;
    let mut buf = String::with_capacity(CHUNK + 4096);
    if format == Format::Csv {
        buf.push_str(CSV_HEADER);
    }
    {
        let mut rows = matching(&mut tx, company, &f, None, None);
        while let Some(r) = rows.try_next().await? {
            let ts = r.ts.format(&Rfc3339).unwrap_or_default();
            let hash = hex::encode(&r.hash);
            match format {
                Format::Csv => {
                    let id = r.id.to_string();
                    let seq = r.chain_seq.to_string();
                    let cells: [&str; 16] = [
                        &id,
                        &ts,
                        r.company.as_deref().unwrap_or(""),
                        r.user_email.as_deref().unwrap_or(""),
                        r.role.as_deref().unwrap_or(""),
                        &r.action,
                        &r.resource,
                        r.resource_id.as_deref().unwrap_or(""),
                        r.severity.as_str(),
                        r.ip.as_deref().unwrap_or(""),
                        r.user_agent.as_deref().unwrap_or(""),
                        r.session_id.as_deref().unwrap_or(""),
                        r.request_id.as_deref().unwrap_or(""),
                        &r.details,
                        &seq,
                        &hash,
                    ];
                    for (i, cell) in cells.iter().enumerate() {
                        if i > 0 {
                            buf.push(',');
                        }
                        csv_cell(&mut buf, cell);
                    }
                    buf.push_str("\r\n");
                }
                Format::Jsonl => {
                    let details: &RawValue =
                        serde_json::from_str(&r.details).map_err(|e| Stop::Db(sqlx::Error::Decode(e.into())))?;
                    let row = JsonRow {
                        id: r.id,
                        timestamp: &ts,
                        company: r.company.as_deref(),
                        actor: JsonActor { email: r.user_email.as_deref(), role: r.role.as_deref() },
                        action: &r.action,
                        resource: &r.resource,
                        resource_id: r.resource_id.as_deref(),
                        severity: r.severity,
                        ip: r.ip.as_deref(),
                        user_agent: r.user_agent.as_deref(),
                        session_id: r.session_id.as_deref(),
                        request_id: r.request_id.as_deref(),
                        details,
                        chain_seq: r.chain_seq,
                        hash: &hash,
                    };
                    // Writing JSON into a String can't fail for these types.
                    if let Ok(line) = serde_json::to_string(&row) {
                        buf.push_str(&line);
                    }
                    buf.push('\n');
                }
            }
            if buf.len() >= CHUNK {
                let chunk = std::mem::replace(&mut buf, String::with_capacity(CHUNK + 4096));
                send.send(Ok(chunk.into_bytes())).await.map_err(|_| Stop::Gone)?;
            }
        }
    }
    if !buf.is_empty() {
        send.send(Ok(buf.into_bytes())).await.map_err(|_| Stop::Gone)?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    fn cell(v: &str) -> String {
        let mut s = String::new();
        csv_cell(&mut s, v);
        s
    }

    #[test]
    fn escapes_and_defuses_formulas() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for f in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(cell(f).starts_with("\"'"), "{f}");
        }
    }
}

/// Starts an export after recording `audit.export` in a transaction of its own, committed
/// first, so the export is on record even if the download is cut short. The export's own
/// transaction is on the gate's pool, scoped like any read: one company under row-level
/// security, or (the super-admin, `Reach::All`) as `atrium_platform`. `user` is the reader's
/// user, if a person.
#[allow(clippy::too_many_arguments)]
pub async fn begin(
    gate: &std::sync::Arc<ExportGate>,
    pool: &sqlx::PgPool,
    scope: super::query::Reach,
    filter: Filter,
    format: Format,
    who: &super::record::Who,
    meta: &crate::server_ctx::RequestMeta,
    user: Option<Uuid>,
) -> Result<impl futures::Stream<Item = Chunk> + Send + 'static, crate::error::AppError> {
    use super::query::{company_condition, Reach};
    use super::record::{record, Event};
    let pass = gate.enter(match scope {
        Reach::Company(c) => Some(c),
        Reach::All => None,
    })?;
    let mut tx = match (scope, user) {
        (Reach::Company(c), _) => crate::db::tenant(&gate.pool, c, user).await?,
        (Reach::All, Some(u)) => crate::db::platform(&gate.pool, u).await?,
        (Reach::All, None) => return Err(crate::error::AppError::Forbidden),
    };
    let company = company_condition(&mut tx, scope, &filter).await?;
    let (company_id, mut log) = match (scope, user) {
        (Reach::Company(c), _) => (Some(c), crate::db::tenant(pool, c, user).await?),
        (Reach::All, Some(u)) => (None, crate::db::account(pool, u).await?),
        (Reach::All, None) => (None, crate::db::anonymous(pool).await?),
    };
    record(
        &mut log,
        who,
        meta,
        Event::new(super::Action::AuditExport, "audit_log")
            .company(company_id)
            .details(serde_json::json!({ "format": format, "filters": filter.describe() })),
    )
    .await?;
    log.commit().await?;
    Ok(spawn(tx, company, filter, format, pass))
}

/// The console's download: the reader's checks (membership and `audit.export` in the
/// company, or the super-admin across companies), then `begin`. Runs inside the request's
/// Leptos context. Returns the file name and the stream.
pub async fn download(
    slug: Option<String>,
    params: super::FilterParams,
    format: Format,
) -> Result<(String, impl futures::Stream<Item = Chunk> + Send + 'static), crate::error::AppError> {
    use crate::server_ctx::{request_meta, state};
    let r = crate::access::open_reader(slug.as_deref(), crate::domain::Permission::AuditExport, "audit.export").await?;
    let who = r.who();
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[year][month][day]-[hour][minute][second]"))
        .unwrap_or_default();
    let name = format!("audit-{}-{stamp}.{}", slug.as_deref().unwrap_or("all-companies"), format.extension());
    let filter = Filter::parse(&params, r.scope)?;
    // The checks are done; the rows are read on the exports' own pool.
    r.tx.commit().await?;
    let st = state()?;
    let stream =
        begin(&st.exports, &st.pool, r.scope, filter, format, &who, &request_meta(), Some(r.actor.user_id)).await?;
    Ok((name, stream))
}
