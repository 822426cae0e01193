//! The caps on audit exports, held in the process's state: exports run on a pool of their
//! own, a few per company and process at a time.
use uuid::Uuid;

/// Exports run on a pool of their own, so slow downloads can never hold the connections that
/// serve pages and the API. A company runs at most `per_company` at once, and the process at
/// most as many as that pool has connections; beyond either, 429.
pub struct ExportGate {
    pub pool: sqlx::PgPool,
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    running: std::sync::Mutex<std::collections::HashMap<Option<Uuid>, usize>>,
    per_company: usize,
}

/// A running export's place; it is given back when the export ends or its client goes away.
pub struct ExportPass {
    _slot: tokio::sync::OwnedSemaphorePermit,
    gate: std::sync::Arc<ExportGate>,
    company: Option<Uuid>,
}

impl Drop for ExportPass {
    fn drop(&mut self) {
        let mut running = self.gate.running.lock().expect("export gate lock");
        if let Some(n) = running.get_mut(&self.company) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.company);
            }
        }
    }
}

/// How long a refused export is told to wait.
pub const EXPORT_RETRY_SECONDS: i64 = 30;

impl ExportGate {
    pub const PER_COMPANY: usize = 2;

    /// `pool` carries the exports' own, longer time limits; its size is the process's cap.
    pub fn new(pool: sqlx::PgPool, slots: usize, per_company: usize) -> std::sync::Arc<ExportGate> {
        std::sync::Arc::new(ExportGate {
            pool,
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(slots)),
            running: Default::default(),
            per_company,
        })
    }

    /// A place for an export of `company` (None: across companies), or 429 at once.
    pub fn enter(self: &std::sync::Arc<Self>, company: Option<Uuid>) -> Result<ExportPass, crate::error::AppError> {
        use crate::error::AppError;
        let mut running = self.running.lock().expect("export gate lock");
        let n = running.entry(company).or_default();
        if *n >= self.per_company {
            return Err(AppError::TooManyRequests(format!(
                "{n} exports of this audit log are already running. Wait for one to finish, then try again."
            )));
        }
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| {
            AppError::TooManyRequests("Too many exports are running right now. Try again in a minute.".into())
        })?;
        *n += 1;
        Ok(ExportPass { _slot: slot, gate: self.clone(), company })
    }
}
