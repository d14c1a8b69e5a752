//! A provider's OAuth2 facts, as the provider documents them: where users authorize,
//! where codes are exchanged and tokens refreshed, which scopes to ask for, how the
//! application authenticates, what the token answer looks like and how to learn the
//! provider's id of the user. Connect uses them for the connect flow (every URL can be
//! overridden in `[connect.<slug>]`), the normalizer for token refresh.

/// How the application authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` as form fields.
    Body,
    /// HTTP Basic `client_id:client_secret`.
    Basic,
}

/// The shape of the token endpoint's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenShape {
    /// RFC 6749: `{"access_token","refresh_token","expires_in"}` (or Strava's `expires_at`).
    Standard,
    /// Withings: `{"status":0,"body":{…standard fields…}}`, and `action=requesttoken` on
    /// every token call (code exchange and refresh).
    Withings,
}

/// Where the provider's user id comes from after the code exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserIdSource {
    /// A JSON pointer into the token response (after unwrapping Withings' envelope).
    TokenField(&'static str),
    /// `GET {api_base}{path}` with the new access token, then a JSON pointer.
    Endpoint(&'static str, &'static str),
    /// The `sub` claim of the `id_token` in the token response (Huawei's openId).
    IdTokenSub,
}

/// One provider's OAuth2 facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OAuthFacts {
    pub authorize_url: &'static str,
    pub token_url: &'static str,
    /// Base of the provider's REST API (no trailing `/`).
    pub api_base: &'static str,
    /// The scopes asked for by default, joined by [`scope_separator`](Self::scope_separator).
    pub scopes: &'static str,
    /// How the provider separates scopes (Strava and Withings: `,`; RFC 6749: ` `).
    pub scope_separator: &'static str,
    pub client_auth: ClientAuth,
    pub token_shape: TokenShape,
    /// Proof Key for Code Exchange (S256) on the authorize and token calls (Garmin).
    pub pkce: bool,
    pub user_id: UserIdSource,
    /// Extra authorize-URL parameters.
    pub authorize_params: &'static [(&'static str, &'static str)],
    /// Form fields the provider wants on refresh besides the standard ones (WHOOP:
    /// `scope=offline`, or the new token carries no refresh token).
    pub refresh_params: &'static [(&'static str, &'static str)],
    /// Facts kept in the connection's `metadata`: (key, JSON pointer into the document
    /// the user id came from). Absent or empty values are not kept.
    pub metadata: &'static [(&'static str, &'static str)],
}

impl OAuthFacts {
    /// RFC 6749 defaults (space-separated scopes, standard token answer, no PKCE, no
    /// extra parameters), for a provider's `const` to start from.
    pub const fn standard(
        authorize_url: &'static str,
        token_url: &'static str,
        api_base: &'static str,
        scopes: &'static str,
        client_auth: ClientAuth,
        user_id: UserIdSource,
    ) -> Self {
        Self {
            authorize_url,
            token_url,
            api_base,
            scopes,
            scope_separator: " ",
            client_auth,
            token_shape: TokenShape::Standard,
            pkce: false,
            user_id,
            authorize_params: &[],
            refresh_params: &[],
            metadata: &[],
        }
    }

    /// Scopes as the provider separates them.
    pub fn join_scopes(&self, scopes: &[String]) -> String {
        scopes.join(self.scope_separator)
    }
}
