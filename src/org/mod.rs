//! Organisations: the rules for what an organisation may be set to (the records themselves
//! are `storage::orgs`).

/// Checks an IANA time zone name; the one place that decides what a valid zone is.
pub fn is_valid_timezone(name: &str) -> bool {
    name.parse::<chrono_tz::Tz>().is_ok()
}
