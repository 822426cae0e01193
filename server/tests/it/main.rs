//! Atrium's integration tests: one binary, a real PostgreSQL, a fresh database per test.
mod account;
mod api_keys;
mod auth;
mod cli;
mod companies;
mod helpers;
mod matrix;
mod migrations;
mod pages;
mod tenancy;
mod users;
mod weights;
