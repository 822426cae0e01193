//! The operator's audit retention policy (from the environment), which every company's
//! setting and the prune answer to.
use super::{RETENTION_MAX_DAYS, RETENTION_MIN_DAYS};

/// The operator's retention policy: a floor under every company's period, and the period
/// of the platform chain (platform events, and the copies of what a super-admin did while
/// acting as a company), which no tenant setting touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub min_days: i32,
    pub platform_days: i32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { min_days: 365, platform_days: RETENTION_MAX_DAYS }
    }
}

impl Policy {
    pub fn new(min_days: i32, platform_days: i32) -> Result<Policy, String> {
        let range = RETENTION_MIN_DAYS..=RETENTION_MAX_DAYS;
        if !range.contains(&min_days) || !range.contains(&platform_days) {
            return Err(format!(
                "audit retention must be between {RETENTION_MIN_DAYS} and {RETENTION_MAX_DAYS} days (got {min_days} and {platform_days})"
            ));
        }
        if platform_days < min_days {
            return Err(format!(
                "the platform's audit retention ({platform_days} days) cannot be shorter than the floor ({min_days} days)"
            ));
        }
        Ok(Policy { min_days, platform_days })
    }

    /// The period that applies to a company that chose `days`.
    pub fn in_force(&self, days: i32) -> i32 {
        days.max(self.min_days)
    }
}
