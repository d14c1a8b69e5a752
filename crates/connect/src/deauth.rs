//! Deauthorising a connection, for every API that does it (`DELETE
//! /v1/admin/connections/{user_id}`, `DELETE /v2/auth/deauthenticateUser`).

use pulsegate_schema::{Connection, EventType};

use crate::{emit_lifecycle, terra_user, ConnectService};

#[derive(Debug, thiserror::Error)]
pub enum DeauthError {
    #[error("no such connection")]
    NotFound,
    #[error("state store unavailable: {0}")]
    State(#[from] pulsegate_state::StateError),
    /// The tokens are already destroyed; calling again emits the event and deletes.
    #[error("bus unavailable; the connection is revoked, try again")]
    Bus(String),
}

impl ConnectService {
    /// Deauthorises a connection: its tokens are destroyed at once (revoked), a `deauth`
    /// event is emitted to destinations (`source` becomes its `terra-reference`), then
    /// the record is deleted. Returns the connection as it was revoked.
    pub async fn deauthorize(
        &self,
        user_id: &str,
        source: &str,
    ) -> Result<Connection, DeauthError> {
        let Some(conn) = self.state.connection(user_id) else {
            return Err(DeauthError::NotFound);
        };
        let revoked = self
            .state
            .revoke_connection(user_id)
            .await?
            .unwrap_or_else(|| (*conn).clone());
        let body = serde_json::json!({
            "type": "deauth",
            "user": terra_user(&revoked),
            "status": "success",
            "message": "User has deauthenticated",
        });
        emit_lifecycle(&*self.bus, &revoked, EventType::Deauth, source, body)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "could not emit the deauth event");
                DeauthError::Bus(e)
            })?;
        self.state.delete_connection(user_id).await?;
        tracing::info!(%user_id, "connection deauthorised and deleted");
        Ok(revoked)
    }
}
