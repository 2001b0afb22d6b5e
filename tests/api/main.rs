//! Black-box tests of the whole server over HTTP, each on SQLite and on PostgreSQL.

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod applogs;
mod attendance;
mod auth;
mod cli;
mod console;
mod contract;
mod crash;
mod geofences;
mod log_hygiene;
mod operations;
mod ops;
mod org;
mod photos;
mod privacy;
mod reports;
mod requests;
mod schedule;
mod shared_reads;
mod shifts;
mod tenancy;
mod users;
mod visibility;
