//! Creating organisations: the first one on an empty database, and more through
//! `muster org create` (the operator's way to onboard a tenant).

use anyhow::bail;
use uuid::Uuid;

use crate::access::Role;
use crate::audit::{Action, AuditContext};
use crate::auth::password;
use crate::config::Settings;
use crate::org::is_valid_timezone;
use crate::storage::Repo;
use crate::storage::orgs::{NewOrg, Org};
use crate::storage::users::{NewUser, User, UserWriteError};

/// What `create_org` made; `generated_password` is set when the caller gave none.
pub struct Created {
    pub org: Org,
    pub admin: User,
    pub generated_password: Option<String>,
}

/// Creates an organisation with default roles and policy and its first `org_admin`.
pub async fn create_org(
    repo: &dyn Repo,
    name: &str,
    timezone: &str,
    admin_email: &str,
    admin_password: Option<&str>,
) -> anyhow::Result<Result<Created, UserWriteError>> {
    if name.trim().is_empty() {
        bail!("the organisation needs a name");
    }
    if !is_valid_timezone(timezone) {
        bail!("{timezone:?} is not an IANA time zone");
    }
    let generated_password = admin_password.is_none().then(password::random_password);
    let chosen = admin_password.or(generated_password.as_deref()).unwrap_or_default();
    if let Err(why) = password::check_strength(chosen) {
        bail!("the admin password {why}");
    }
    let hash = {
        let chosen = chosen.to_owned();
        tokio::task::spawn_blocking(move || password::hash(&chosen)).await??
    };
    let org = NewOrg {
        id: Uuid::now_v7(),
        name: name.trim().to_owned(),
        timezone: timezone.to_owned(),
    };
    let admin = NewUser {
        id: Uuid::now_v7(),
        email: admin_email.trim().to_owned(),
        name: "Administrator".to_owned(),
        employee_code: "admin".to_owned(),
        manager_id: None,
        roles: vec![Role::OrgAdmin],
        site_ids: Vec::new(),
        password_hash: Some(hash),
    };
    let context = AuditContext {
        org_id: org.id,
        actor_id: None,
        request_id: None,
        ip: None,
    };
    let audit = [
        context.entry(Action::OrgCreated, None, Some(org.id.to_string())),
        context.entry(Action::UserCreated, Some(admin.id), Some(admin.id.to_string())),
    ];
    Ok(repo
        .create_org(&org, &admin, &audit)
        .await?
        .map(|(org, admin)| Created {
            org,
            admin,
            generated_password,
        }))
}

/// On the first start with an empty database, creates the bootstrap organisation and admin.
/// Several replicas starting at once are safe: the admin's email is unique, so only one
/// transaction commits and the others find the work done.
pub async fn ensure_first_org(repo: &dyn Repo, settings: &Settings) -> anyhow::Result<()> {
    if repo.count_orgs().await? > 0 {
        return Ok(());
    }
    let given = settings.bootstrap_admin_password.as_ref().map(|s| s.expose());
    match create_org(
        repo,
        &settings.bootstrap_org,
        &settings.bootstrap_timezone,
        &settings.bootstrap_admin_email,
        given,
    )
    .await?
    {
        Ok(created) => {
            tracing::info!(org_id = %created.org.id, "created the bootstrap organisation and its org_admin");
            if let Some(pw) = created.generated_password {
                // Printed once, to the terminal, never to the log: the operator's only copy.
                eprintln!(
                    "\n  muster: first start. Log in as {} with the password\n\n      {pw}\n\n  It is shown only this once.\n",
                    created.admin.email
                );
            }
            Ok(())
        }
        Err(UserWriteError::EmailTaken) => Ok(()),
        Err(other) => bail!("bootstrap failed: {other}"),
    }
}
