//! Companies: the super-admin's list and editor, and each company's home page.
use crate::audit::AuditEntry;
use crate::error::AppError;
use crate::ui::time::Stamp;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "ssr")]
pub mod service;
mod views;
pub use views::{CompanyEditPage, CompanyHomePage, CompanyListPage, CompanyNewPage};

pub const PAGE_SIZE: i64 = 25;
/// Lists count exactly up to this many rows, then say "10,000+".
pub const COUNT_CAP: i64 = 10_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompanySummary {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub tenant_enabled: bool,
    pub deleted: bool,
    pub user_count: i64,
    pub created_at: Stamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompanyPage {
    pub rows: Vec<CompanySummary>,
    /// Cursor for the next page, when there is one.
    pub next: Option<String>,
    pub total: i64,
    /// True when there are more than `total` rows.
    pub total_capped: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CompanySort {
    #[default]
    Name,
    Newest,
    Slug,
}

impl CompanySort {
    pub fn parse(s: &str) -> CompanySort {
        match s {
            "newest" => CompanySort::Newest,
            "slug" => CompanySort::Slug,
            _ => CompanySort::Name,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            CompanySort::Name => "name",
            CompanySort::Newest => "newest",
            CompanySort::Slug => "slug",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompanyDetail {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub tenant_enabled: bool,
    pub tenant_config: String,
    pub deleted: bool,
    pub created_at: Stamp,
    pub updated_at: Stamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompanyHome {
    pub company: CompanyDetail,
    pub user_count: i64,
    pub recent: Vec<AuditEntry>,
}

/// The super-admin's change to one company: a transaction scoped to it, and the operation.
#[cfg(feature = "ssr")]
async fn on_company(
    actor: &crate::server_ctx::Actor,
    company: Uuid,
) -> Result<(crate::db::Tx, crate::audit::record::Op), AppError> {
    use crate::server_ctx::{request_meta, state};
    let tx = crate::db::tenant(&state()?.pool, company, Some(actor.user_id)).await?;
    let who = crate::audit::record::Who::from(actor);
    Ok((tx, crate::audit::record::Op { company, who, meta: request_meta() }))
}

#[server(endpoint = "companies/list")]
pub async fn list_companies(q: String, sort: String, after: Option<String>) -> Result<CompanyPage, AppError> {
    use crate::access::require;
    use crate::server_ctx::*;
    let actor = require(Permission::CompaniesWrite).await?;
    let mut tx = crate::access::platform_read(&state()?.pool, &actor, &request_meta(), "companies").await?;
    let page = service::list(&mut tx, q.trim(), CompanySort::parse(&sort), after.as_deref()).await?;
    tx.commit().await?;
    Ok(page)
}

#[server(endpoint = "companies/create")]
pub async fn create_company(name: String, slug: String) -> Result<(), AppError> {
    use crate::access::require;
    use crate::server_ctx::*;
    let actor = require(Permission::CompaniesWrite).await?;
    let id = Uuid::new_v4();
    let (mut tx, op) = on_company(&actor, id).await?;
    service::create(&mut tx, &op, &name, &slug).await?;
    tx.commit().await?;
    leptos_axum::redirect(&format!("/admin/companies/{id}"));
    Ok(())
}

#[server(endpoint = "companies/get")]
pub async fn get_company(id: Uuid) -> Result<CompanyDetail, AppError> {
    use crate::access::require;
    use crate::server_ctx::*;
    let actor = require(Permission::CompaniesWrite).await?;
    let mut tx = crate::db::tenant(&state()?.pool, id, Some(actor.user_id)).await?;
    service::get(&mut tx, id).await?.ok_or(AppError::NotFound)
}

#[server(endpoint = "companies/update")]
pub async fn update_company(
    id: Uuid,
    name: String,
    slug: String,
    tenant_config: String,
    #[server(default)] tenant_enabled: Option<String>,
) -> Result<(), AppError> {
    use crate::access::require;
    use crate::server_ctx::*;
    let actor = require(Permission::CompaniesWrite).await?;
    let input = service::CompanyEdit { name, slug, tenant_config, tenant_enabled: tenant_enabled.is_some() };
    let (mut tx, op) = on_company(&actor, id).await?;
    service::update(&mut tx, &op, input).await?;
    tx.commit().await?;
    leptos_axum::redirect(&format!("/admin/companies/{id}?saved=1"));
    Ok(())
}

#[server(endpoint = "companies/delete")]
pub async fn delete_company(id: Uuid) -> Result<(), AppError> {
    use crate::access::require;
    use crate::server_ctx::*;
    let actor = require(Permission::CompaniesDelete).await?;
    let (mut tx, op) = on_company(&actor, id).await?;
    service::soft_delete(&mut tx, &op).await?;
    tx.commit().await?;
    leptos_axum::redirect("/admin/companies");
    Ok(())
}

#[server(endpoint = "companies/home")]
pub async fn load_company_home(slug: String) -> Result<CompanyHome, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::CompaniesRead).await?;
    let mut tx = t.tx().await?;
    let company = service::get(&mut tx, t.company.id).await?.ok_or(AppError::NotFound)?;
    let user_count = service::user_count(&mut tx, company.id).await?;
    let recent = crate::audit::record::recent_for_company(&mut tx, company.id, 20).await?;
    tx.commit().await?;
    Ok(CompanyHome { company, user_count, recent })
}
