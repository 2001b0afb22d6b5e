//! Black-box tests of the whole server over HTTP, each on SQLite and on PostgreSQL.

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod applogs;
mod auth;
mod cli;
mod log_hygiene;
mod ops;
mod org;
mod tenancy;
mod users;
