//! The mail worker: sends what `app::mail::queue` put in `mail_outbox` over SMTP (lettre),
//! claiming rows with `FOR UPDATE SKIP LOCKED` and a lease like the delivery worker, so any
//! number of processes can run one. A temporary refusal (4xx, a connection that failed) is
//! retried with backoff; a permanent one (5xx) or the last attempt makes the mail `failed`. A
//! mail's body is erased once it is sent or given up. The Message-ID is the row's id, the
//! same on every attempt, so a receiver can drop a duplicate after a lost acknowledgement.
use app::integrations::crypto::Keyring;
use app::mail::CHANNEL;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct MailConfig {
    /// `smtp://host:port`, `smtps://user:pass@host`, or `smtp://…?tls=required` (lettre's URL).
    pub smtp_url: String,
    pub from: Mailbox,
    /// The domain of Message-IDs (the public URL's host).
    pub message_domain: String,
    pub max_attempts: i32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// A claim holds a mail this long before another worker may take it over.
    pub lease: Duration,
    pub timeout: Duration,
    pub idle_poll: Duration,
}

pub struct MailWorker {
    pool: PgPool,
    keyring: Keyring,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    cfg: MailConfig,
}

/// Stops the mail worker the way the delivery worker is stopped.
pub type MailHandle = crate::delivery_worker::WorkerHandle;

struct Claimed {
    id: Uuid,
    company_id: Option<Uuid>,
    to: String,
    subject: String,
    sealed: Vec<u8>,
    key_version: i32,
    lease_token: Uuid,
    attempt: i32,
}

enum Outcome {
    Sent,
    /// Worth another attempt later.
    Temporary(String),
    /// Never going to work (a refused recipient, a body that cannot be opened).
    Permanent(String),
}

impl MailWorker {
    pub fn new(pool: PgPool, keyring: Keyring, cfg: MailConfig) -> anyhow::Result<MailWorker> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&cfg.smtp_url)
            .map_err(|e| anyhow::anyhow!("ATRIUM_SMTP_URL is not a usable SMTP address: {e}"))?
            .timeout(Some(cfg.timeout))
            .build();
        Ok(MailWorker { pool, keyring, transport, cfg })
    }

    pub fn spawn(self) -> MailHandle {
        let (stop, rx) = watch::channel(false);
        MailHandle::new(stop, tokio::spawn(self.run(rx)))
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut wakeup = crate::delivery_worker::Wakeup::listen(&self.pool, CHANNEL).await;
        while !*stop.borrow() {
            let batch = match self.claim(10).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!("mail: claim failed: {e}");
                    Vec::new()
                }
            };
            if !batch.is_empty() {
                for c in batch {
                    let outcome = self.send(&c).await;
                    if let Err(e) = self.finish(&c, outcome).await {
                        // The lease runs out and the mail is claimed again: nothing is lost.
                        tracing::warn!(mail = %c.id, "mail: could not record the attempt: {e}");
                    }
                }
                continue;
            }
            tokio::select! {
                _ = wakeup.notified() => {}
                _ = tokio::time::sleep(self.cfg.idle_poll) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn claim(&self, n: i64) -> Result<Vec<Claimed>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"WITH due AS (
                 SELECT id FROM mail_outbox
                  WHERE status IN ('queued', 'retrying', 'sending') AND next_attempt_at <= now()
                    -- Maintenance mode (migration 0019): nothing new goes out.
                    AND NOT EXISTS (SELECT 1 FROM maintenance_mode m WHERE m.active)
                  ORDER BY next_attempt_at
                  LIMIT $1
                  FOR UPDATE SKIP LOCKED)
               UPDATE mail_outbox m
                  SET status = 'sending', lease_token = gen_random_uuid(), attempts = m.attempts + 1,
                      next_attempt_at = now() + make_interval(secs => $2)
                 FROM due
                WHERE m.id = due.id
            RETURNING m.id, m.company_id, m.to_address, m.subject, m.body_sealed AS "body_sealed!",
                      m.key_version AS "key_version!", m.lease_token AS "lease_token!", m.attempts"#,
            n,
            self.cfg.lease.as_secs_f64(),
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Claimed {
                id: r.id,
                company_id: r.company_id,
                to: r.to_address,
                subject: r.subject,
                sealed: r.body_sealed,
                key_version: r.key_version,
                lease_token: r.lease_token,
                attempt: r.attempts,
            })
            .collect())
    }

    fn message(&self, c: &Claimed) -> Result<Message, Outcome> {
        let body = app::mail::open(&self.keyring, c.id, c.company_id, &c.sealed, c.key_version)
            .map_err(|e| Outcome::Permanent(format!("the body cannot be opened: {e}")))?;
        let to: Mailbox = c.to.parse().map_err(|e| Outcome::Permanent(format!("bad recipient: {e}")))?;
        Message::builder()
            .from(self.cfg.from.clone())
            .to(to)
            .subject(&c.subject)
            .message_id(Some(format!("<{}@{}>", c.id, self.cfg.message_domain)))
            .multipart(MultiPart::alternative_plain_html(body.text, body.html))
            .map_err(|e| Outcome::Permanent(format!("the message cannot be built: {e}")))
    }

    async fn send(&self, c: &Claimed) -> Outcome {
        let message = match self.message(c) {
            Ok(m) => m,
            Err(refused) => return refused,
        };
        match self.transport.send(message).await {
            Ok(_) => Outcome::Sent,
            Err(e) if e.is_permanent() => Outcome::Permanent(e.to_string()),
            Err(e) => Outcome::Temporary(e.to_string()),
        }
    }

    fn next_delay(&self, attempt: i32) -> Duration {
        let exp = self.cfg.base_backoff.saturating_mul(1u32 << (attempt - 1).clamp(0, 20) as u32);
        exp.min(self.cfg.max_backoff).mul_f64(0.5 + rand::random::<f64>() * 0.5)
    }

    async fn finish(&self, c: &Claimed, outcome: Outcome) -> Result<(), sqlx::Error> {
        let (status, error, delay) = match outcome {
            Outcome::Sent => ("sent", None, None),
            Outcome::Permanent(e) => ("failed", Some(e), None),
            Outcome::Temporary(e) if c.attempt >= self.cfg.max_attempts => ("failed", Some(e), None),
            Outcome::Temporary(e) => ("retrying", Some(e), Some(self.next_delay(c.attempt))),
        };
        if let Some(e) = &error {
            tracing::warn!(mail = %c.id, attempt = c.attempt, status, "mail: not sent: {e}");
        }
        // Only under our lease: a worker that stalled past it does not overwrite the one that
        // took over. A finished mail keeps no body.
        sqlx::query!(
            "UPDATE mail_outbox
                SET status = $3::text, last_error = $4, lease_token = NULL,
                    sent_at = CASE WHEN $3::text = 'sent' THEN now() END,
                    next_attempt_at = CASE WHEN $5::float8 IS NULL THEN next_attempt_at
                                           ELSE now() + make_interval(secs => $5) END,
                    body_sealed = CASE WHEN $3::text IN ('sent', 'failed') THEN NULL ELSE body_sealed END,
                    key_version = CASE WHEN $3::text IN ('sent', 'failed') THEN NULL ELSE key_version END
              WHERE id = $1 AND lease_token = $2",
            c.id,
            c.lease_token,
            status,
            error.map(|e| e.chars().take(500).collect::<String>()),
            delay.map(|d| d.as_secs_f64()),
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
