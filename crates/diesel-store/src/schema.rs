//! The tables of `migrations/sqlite` and `migrations/postgres`, as diesel sees them: one
//! definition for both backends (a sealed secret is `Binary`, which PostgreSQL spells `BYTEA`).

diesel::table! {
    connections (ref_id) {
        ref_id -> Text,
        server_name -> Text,
        display_name -> Nullable<Text>,
        url -> Nullable<Text>,
        transport -> Text,
        auth_method -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        scopes -> Text,
        expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        api_key -> Nullable<Binary>,
        access_token -> Nullable<Binary>,
        refresh_token -> Nullable<Binary>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        refresh_failures -> Integer,
        next_attempt_at -> Nullable<BigInt>,
        label -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_flows (state_hash) {
        state_hash -> Text,
        ref_id -> Text,
        issuer -> Nullable<Text>,
        iss_required -> Bool,
        pkce_verifier -> Binary,
        redirect_uri -> Text,
        scopes -> Text,
        resource -> Nullable<Text>,
        return_to -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        ref_id -> Text,
        server_name -> Text,
        kind -> Text,
        detail -> Nullable<Text>,
        at -> BigInt,
    }
}

diesel::table! {
    client_registrations (issuer) {
        issuer -> Text,
        client_id -> Text,
        client_secret -> Nullable<Binary>,
        auth_method -> Text,
        redirect_uri -> Text,
        secret_expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    discovered_authorizations (ref_id) {
        ref_id -> Text,
        issuer -> Text,
        client_id -> Text,
        resource -> Text,
    }
}

diesel::joinable!(oauth_flows -> connections (ref_id));
diesel::allow_tables_to_appear_in_same_query!(
    connections,
    oauth_flows,
    audit_events,
    client_registrations,
    discovered_authorizations
);
