//! muster: an HRMS attendance backend. Employees check in from phones; the server judges
//! each location against the organisation's geofences, applies its policy, stores every
//! attempt, and shows locations and photos only to those the policy authorises, auditing
//! every disclosure.

pub mod access;
pub mod applogs;
pub mod attendance;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod field;
pub mod geofence;
pub mod http;
pub mod limit;
pub mod org;
pub mod photos;
pub mod privacy;
pub mod proto;
pub mod reports;
pub mod requests;
pub mod shifts;
pub mod sites;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod uploads;
pub mod visibility;
