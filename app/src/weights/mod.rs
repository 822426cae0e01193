//! Weight overrides: a company's SROI and VIS weights, validated against a catalogue in code,
//! with a full history from the table's trigger and "restore this version".
use crate::error::AppError;
use crate::ui::time::Stamp;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(feature = "ssr")]
pub mod catalogue;
#[cfg(feature = "ssr")]
pub mod service;
mod views;
pub use views::{WeightHistoryPage, WeightsPage};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Sroi,
    Vis,
}

impl Category {
    pub const ALL: [Category; 2] = [Category::Sroi, Category::Vis];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Sroi => "sroi",
            Category::Vis => "vis",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Category::Sroi => "SROI",
            Category::Vis => "VIS",
        }
    }

    pub fn parse(s: &str) -> Result<Category, AppError> {
        match s.trim() {
            "" | "sroi" => Ok(Category::Sroi),
            "vis" => Ok(Category::Vis),
            _ => Err(AppError::NotFound),
        }
    }
}

/// One known weight as the editor shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightField {
    pub key: String,
    pub label: String,
    pub unit: String,
    pub kind: String,
    pub min: f64,
    pub max: f64,
    pub default: f64,
    pub help: String,
    /// The company's override, if it has one.
    pub value: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightsView {
    pub category: Category,
    pub fields: Vec<WeightField>,
    pub updated: Option<Stamp>,
    pub updated_by: Option<String>,
    pub can_write: bool,
}

/// One row of the history: what the change left in force, and what it replaced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub at: Stamp,
    pub by: Option<String>,
    /// INSERT, UPDATE or DELETE.
    pub operation: String,
    pub reason: Option<String>,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
    /// The newest row: the version in force.
    pub current: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryView {
    pub category: Category,
    pub entries: Vec<HistoryEntry>,
    pub can_write: bool,
}

#[server(endpoint = "weights/get")]
pub async fn get_weights(slug: String, category: String) -> Result<WeightsView, AppError> {
    use crate::server_ctx::*;
    let category = Category::parse(&category)?;
    let t = crate::access::require_in(&slug, Permission::WeightsRead).await?;
    let mut tx = t.tx().await?;
    let current = service::current(&mut tx, t.company.id, category).await?;
    tx.commit().await?;
    let fields = catalogue::catalogue(category)
        .iter()
        .map(|w| WeightField {
            key: w.key.into(),
            label: w.label.into(),
            unit: w.unit.into(),
            kind: w.kind.as_str().into(),
            min: w.min,
            max: w.max,
            default: w.default,
            help: w.help.into(),
            value: current.weights.get(w.key).and_then(|v| v.as_f64()),
        })
        .collect();
    let can_write = t.may(Permission::WeightsWrite);
    Ok(WeightsView { category, fields, updated: current.updated, updated_by: current.updated_by, can_write })
}

/// Saves the editor: a blank field means "use the default".
#[server(endpoint = "weights/save")]
pub async fn save_weights(
    slug: String,
    category: String,
    values: Option<BTreeMap<String, String>>,
    reason: String,
) -> Result<(), AppError> {
    use crate::server_ctx::*;
    let category = Category::parse(&category)?;
    let t = crate::access::require_in(&slug, Permission::WeightsWrite).await?;
    let (set, reason) =
        service::parse_change(catalogue::WeightSet::from_form(category, &values.unwrap_or_default()), &reason)
            .map_err(AppError::Validation)?;
    let mut tx = t.tx().await?;
    service::save(&mut tx, &t.op(), &set, &reason, crate::audit::Action::WeightsUpdate, serde_json::json!({})).await?;
    tx.commit().await?;
    if plain_form_post() {
        leptos_axum::redirect(&format!("/t/{slug}/weights/{}?saved=1", category.as_str()));
    }
    Ok(())
}

#[server(endpoint = "weights/history")]
pub async fn weight_history(slug: String, category: String) -> Result<HistoryView, AppError> {
    use crate::server_ctx::*;
    let category = Category::parse(&category)?;
    let t = crate::access::require_in(&slug, Permission::WeightsRead).await?;
    let mut tx = t.tx().await?;
    let entries = service::history(&mut tx, t.company.id, category, 200).await?;
    tx.commit().await?;
    let can_write = t.may(Permission::WeightsWrite);
    Ok(HistoryView { category, entries, can_write })
}

/// Makes an earlier version the one in force, as a new change with its own reason. The
/// stored version is validated again: the catalogue may have moved on since.
#[server(endpoint = "weights/restore")]
pub async fn restore_weights(slug: String, category: String, version: i64, reason: String) -> Result<(), AppError> {
    use crate::server_ctx::*;
    let category = Category::parse(&category)?;
    let t = crate::access::require_in(&slug, Permission::WeightsWrite).await?;
    let reason = service::parse_reason(&reason).map_err(|e| AppError::field("reason", e))?;
    let mut tx = t.tx().await?;
    let stored = service::version(&mut tx, t.company.id, category, version).await?;
    let set = catalogue::WeightSet::from_json(category, &stored).map_err(|e| {
        let detail: Vec<String> = e.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        AppError::field("form", format!("That version no longer passes today's rules ({}).", detail.join(" ")))
    })?;
    service::save(
        &mut tx,
        &t.op(),
        &set,
        &reason,
        crate::audit::Action::WeightsRestore,
        serde_json::json!({ "restored_version": version }),
    )
    .await?;
    tx.commit().await?;
    if plain_form_post() {
        leptos_axum::redirect(&format!("/t/{slug}/weights/{}/history?restored=1", category.as_str()));
    }
    Ok(())
}
