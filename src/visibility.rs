//! What a caller may see of whom: the reporting-tree look-ups behind every scoped read.
//!
//! The rule itself is [`access::reaches`]; this module only finds how a subject relates to
//! the caller, alone ([`sees`]) or for a whole answer in one query ([`sight`]), and asks the
//! tree only when the caller's scope depends on it.

use std::collections::HashMap;
use uuid::Uuid;

use crate::access::{Caller, Family, Relation, Scope, reaches};
use crate::storage::StorageError;
use crate::storage::users::{User, UserStore};

/// How `subject` relates to the caller (the team walk only when it can matter).
pub async fn relation_to(users: &dyn UserStore, caller: &Caller, subject: &User) -> Result<Relation, StorageError> {
    Ok(if subject.id == caller.user_id {
        Relation::Myself
    } else if subject.manager_id == Some(caller.user_id) {
        Relation::Direct
    } else if users.is_in_team(caller.org_id, caller.user_id, subject.id).await? {
        Relation::Team
    } else {
        Relation::Org
    })
}

/// May the caller see `family` data of `subject` (a user of the caller's org)?
pub async fn sees(
    users: &dyn UserStore,
    caller: &Caller,
    family: Family,
    subject: &User,
) -> Result<bool, StorageError> {
    let relation = match family.scope_in(caller.permissions) {
        None | Some(Scope::Org) => None,
        Some(_) => Some(relation_to(users, caller, subject).await?),
    };
    Ok(reaches(caller.permissions, family, || relation))
}

/// What the caller may see of each of `subjects` (users of the caller's org) for
/// `families`: the batch form of [`sees`] for lists and reports, with one query at most
/// (none when no family's scope depends on the reporting tree).
pub async fn sight(
    users: &dyn UserStore,
    caller: &Caller,
    families: &[Family],
    subjects: &[Uuid],
) -> Result<Sight, StorageError> {
    let needs_tree = families
        .iter()
        .any(|f| matches!(f.scope_in(caller.permissions), Some(Scope::Direct | Scope::Team)));
    let relations = if needs_tree {
        users.relations(caller.org_id, caller.user_id, subjects).await?
    } else {
        HashMap::new()
    };
    Ok(Sight {
        caller: caller.clone(),
        relations,
    })
}

/// What a caller may see of a batch of subjects, from one relation query; see [`sight`].
#[derive(Clone, Debug)]
pub struct Sight {
    caller: Caller,
    relations: HashMap<Uuid, Relation>,
}

impl Sight {
    /// May the caller see `family` data of `subject`? The same rule as [`sees`].
    pub fn sees(&self, family: Family, subject: Uuid) -> bool {
        reaches(self.caller.permissions, family, || {
            if subject == self.caller.user_id {
                Some(Relation::Myself)
            } else {
                self.relations.get(&subject).copied()
            }
        })
    }
}
