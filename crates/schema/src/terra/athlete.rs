//! Terra `Athlete` (the user's profile at the provider) and the `athlete` event.

use serde::{Deserialize, Serialize};

use super::common::FullDeviceData;
use super::User;

/// Terra `Athlete`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Athlete {
    /// User's age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<i64>,
    /// User's country of residence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// User's bio - a short description they display on their profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    /// User's state of residence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// User's last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// User's sex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// User's city of residence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// User's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// User's date of birth, in ISO8601 format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// User's first name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// User's gender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// User's account creation date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_provider: Option<String>,
    /// Devices linked to the user's account at the provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<FullDeviceData>,
}

/// Terra `AthleteEvent` (`{"type":"athlete","athlete","user","version"}`): unlike the data
/// events it carries one `athlete` object, not a `data` list.
#[derive(Debug, Serialize)]
pub struct AthleteEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub athlete: &'a Athlete,
    pub user: &'a User,
    pub version: &'a str,
}
