//! Colonies and users.

use serde::{Deserialize, Serialize};

/// A colony: a name and the id of its owner's key (`colonyid`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Colony {
    /// Identity of the colony owner's key.
    #[serde(rename = "colonyid", default)]
    pub colony_id: String,
    /// Unique colony name.
    #[serde(default)]
    pub name: String,
}

/// A user of a colony (a member that is not an executor).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct User {
    /// Colony the user belongs to.
    #[serde(rename = "colonyname", default)]
    pub colony_name: String,
    /// Identity of the user's key.
    #[serde(rename = "userid", default)]
    pub user_id: String,
    /// User name, unique in the colony.
    #[serde(default)]
    pub name: String,
    /// E-mail address.
    #[serde(default)]
    pub email: String,
    /// Phone number.
    #[serde(default)]
    pub phone: String,
}
