// The SQL of both backends, compiled once per backend: `postgres.rs` and `sqlite.rs` each
// `include!` this file after defining `Db`, `SqlRepo { pool }`, `BACKEND`, `BEGIN_WRITE`,
// `LOCK_ORG` and `HAS_LATERAL`. Every statement here must therefore be valid on both (`$n` placeholders,
// standard SQL, `RETURNING`, `ON CONFLICT`, recursive CTEs), and each is type-checked against
// each backend's concrete types: one source, no generic-bound soup, no copy-paste.
include!("header.rs");
include!("held.rs");
include!("orgs.rs");
include!("users.rs");
include!("tokens.rs");
include!("audit.rs");
include!("sites.rs");
include!("events.rs");
include!("requests.rs");
include!("shifts.rs");
include!("reports.rs");
include!("auto_check_out.rs");
include!("photos.rs");
include!("privacy.rs");
include!("applogs.rs");
