//! Atrium's integration tests: one binary, a real PostgreSQL, a fresh database per test.
mod account;
mod api_keys;
mod attacks;
mod audit;
mod auth;
mod cli;
mod companies;
mod deliveries;
mod helpers;
mod integrations;
mod matrix;
mod migrations;
mod pages;
mod receiver;
mod tenancy;
mod users;
mod weights;
