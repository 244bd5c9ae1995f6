//! What the scenarios do to the service, as the engine and a browser would: connect, follow the
//! authorization URL to the test authorization server, come back to the callback.

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::http::{Client, Reply};

/// The catalog entry backed by the test authorization server.
pub(crate) const OAUTH_SERVER: &str = "acme";
/// The catalog entry that takes an API key.
pub(crate) const KEYED_SERVER: &str = "keyed";
/// The environment variable the catalog names for the OAuth client secret.
pub(crate) const CLIENT_SECRET_ENV: &str = "CHAOS_ACME_CLIENT_SECRET";
/// The catalog entry with no user: the client credentials grant, signed with the service's key.
pub(crate) const MACHINE_SERVER: &str = "machine";
/// Its client at the test authorization server (which knows the service key's public half).
pub(crate) const SIGNED_CLIENT: &str = "chaos-signed";
/// Clients given with a custom server's connect: with a secret, and with a private key.
pub(crate) const GIVEN_CLIENT: &str = "chaos-given";
pub(crate) const OWN_KEY_CLIENT: &str = "chaos-own-key";
/// The service's client at the test server playing an enterprise identity provider too: given
/// with a connect, and configured for tenant `default`.
pub(crate) const IDP_CLIENT: &str = "chaos-idp-client";
pub(crate) const TENANT_IDP_CLIENT: &str = "chaos-tenant-idp-client";

/// The catalog every chaos service starts with.
pub(crate) fn catalog(auth_base: &str) -> serde_json::Value {
    json!({ "servers": [
        { "server_name": KEYED_SERVER, "display_name": "Keyed", "transport": "streamable_http",
          "url": "https://keyed.example/mcp", "auth_method": "api_key",
          "api_key": { "header": "Authorization", "scheme": "Bearer" } },
        { "server_name": OAUTH_SERVER, "display_name": "Acme", "transport": "streamable_http",
          "url": "https://acme.example/mcp", "auth_method": "oauth",
          "oauth": {
            "discovery": false, "issuer": auth_base,
            "authorization_endpoint": format!("{auth_base}/authorize"),
            "token_endpoint": format!("{auth_base}/token"),
            "revocation_endpoint": format!("{auth_base}/revoke"),
            "client_id": "test-client", "client_secret_env": CLIENT_SECRET_ENV,
            "scopes": ["read", "write"], "send_resource": true } }
    ]})
}

/// The catalog of the leak scan: [`catalog`] and a client credentials entry that signs with the
/// service's key (its connect calls the authorization server at once, which the Schemathesis
/// services, shut in a loopback-only namespace, cannot reach).
pub(crate) fn leaks_catalog(auth_base: &str) -> serde_json::Value {
    let mut catalog = catalog(auth_base);
    let machine = json!(
        { "server_name": MACHINE_SERVER, "display_name": "Machine", "transport": "streamable_http",
          "url": "https://machine.example/mcp", "auth_method": "oauth_client_credentials",
          "oauth": {
            "discovery": false, "issuer": auth_base, "token_endpoint": format!("{auth_base}/token"),
            "revocation_endpoint": format!("{auth_base}/revoke"), "client_id": SIGNED_CLIENT,
            "token_endpoint_auth_method": "private_key_jwt", "scopes": ["read"], "send_resource": true } });
    if let Some(servers) = catalog["servers"].as_array_mut() {
        servers.push(machine);
    }
    catalog
}

fn ref_id(reply: &Reply) -> Result<String> {
    reply.body["ref_id"].as_str().map(str::to_owned).with_context(|| format!("no ref_id in {}", reply.body))
}

/// `POST /assets/connect` for an API-key server; the connection's `ref_id`.
pub(crate) fn connect_with_key(client: &Client, api_key: &str) -> Result<String> {
    connect_keyed_to(client, KEYED_SERVER, api_key)
}

/// `POST /assets/connect` for the API-key catalog server `server_name`; the `ref_id`.
pub(crate) fn connect_keyed_to(client: &Client, server_name: &str, api_key: &str) -> Result<String> {
    let reply =
        client.post("/assets/connect", &json!({"server_name": server_name, "server_config": {"api_key": api_key}}));
    if reply.status != 200 {
        bail!("connect answered {} {}", reply.status, reply.body);
    }
    ref_id(&reply)
}

/// Starts an OAuth connection and lets the test authorization server consent: the `ref_id` and
/// the callback URL (with `code` and `state`) the browser would be sent to.
pub(crate) fn start_oauth(client: &Client) -> Result<(String, String)> {
    start_oauth_to(client, OAUTH_SERVER)
}

/// [`start_oauth`] for the OAuth catalog server `server_name`.
fn start_oauth_to(client: &Client, server_name: &str) -> Result<(String, String)> {
    let reply = client.post("/assets/connect", &json!({"server_name": server_name}));
    if reply.status != 200 {
        bail!("connect answered {} {}", reply.status, reply.body);
    }
    let auth_url = reply.body["auth_url"].as_str().context("no auth_url")?;
    let consent = client.browse(auth_url);
    let callback = consent.location.with_context(|| format!("the authorization server answered {}", consent.status))?;
    Ok((ref_id(&reply)?, callback))
}

/// A connected OAuth connection.
pub(crate) fn connect_oauth(client: &Client) -> Result<String> {
    connect_oauth_to(client, OAUTH_SERVER)
}

/// [`connect_oauth`] for the OAuth catalog server `server_name`.
pub(crate) fn connect_oauth_to(client: &Client, server_name: &str) -> Result<String> {
    let (ref_id, callback) = start_oauth_to(client, server_name)?;
    let done = client.browse(&callback);
    if done.status != 200 || done.body["status"] != "connected" {
        bail!("the callback answered {} {}", done.status, done.body);
    }
    Ok(ref_id)
}

/// The status of a connection, or `None` when it is gone.
pub(crate) fn status(client: &Client, ref_id: &str) -> Result<Option<String>> {
    let reply = client.get(&format!("/assets/connections/{ref_id}"));
    match reply.status {
        200 => Ok(reply.body["status"].as_str().map(str::to_owned)),
        404 => Ok(None),
        other => bail!("GET connection answered {other} {}", reply.body),
    }
}

/// `GET …/credentials`.
pub(crate) fn credentials(client: &Client, ref_id: &str) -> Reply {
    client.get(&format!("/assets/connections/{ref_id}/credentials"))
}

/// The `Authorization` header of a credentials answer.
pub(crate) fn authorization(reply: &Reply) -> Option<&str> {
    reply.body["headers"]["Authorization"].as_str()
}

/// What a browser on the hosted connect page holds: the session token and the browser nonce.
pub(crate) struct PageSecrets {
    pub session_token: String,
    pub browser_nonce: String,
}

/// Opens a connect session and connects the OAuth server on its hosted page as a browser does
/// (the token moved into a cookie, the form with its CSRF token, the nonce cookie at the
/// callback), so the leak scan can look for both of the browser's secrets.
pub(crate) fn connect_on_page(client: &Client) -> Result<PageSecrets> {
    let opened = client.post("/assets/connect-sessions", &json!({"allowed_servers": [OAUTH_SERVER]}));
    let token = opened.body["session_token"].as_str().with_context(|| format!("no session in {}", opened.body))?;
    let connect_url = opened.body["connect_url"].as_str().context("no connect_url")?;
    let entered = client.browse_with(connect_url, "");
    let session = entered.cookie("ad_connect_session").context("the page set no session cookie")?;
    let session = format!("ad_connect_session={session}");
    let page = client.browse_with(&format!("{}/assets/connect-page", client.base), &session);
    let csrf = attribute_after(page.body.as_str().unwrap_or(""), "name=\"csrf\" value=\"")?;
    let form = format!("csrf={csrf}&server_name={OAUTH_SERVER}");
    let leaving = client.post_form("/assets/connect-page/connect", &session, &form);
    let nonce = leaving.cookie("ad_browser").context("the page set no browser cookie")?.to_owned();
    let auth_url = attribute_after(leaving.body.as_str().unwrap_or(""), "href=\"")?.replace("&amp;", "&");
    let consent = client.browse(&auth_url);
    let callback = consent.location.with_context(|| format!("the authorization server answered {}", consent.status))?;
    let done = client.browse_with(&callback, &format!("ad_browser={nonce}"));
    if done.status != 200 || done.body["status"] != "connected" {
        bail!("the page's callback answered {} {}", done.status, done.body);
    }
    Ok(PageSecrets { session_token: token.to_owned(), browser_nonce: nonce })
}

/// The attribute value that follows `marker` in a page.
fn attribute_after(html: &str, marker: &str) -> Result<String> {
    let start = html.find(marker).with_context(|| format!("no {marker} in the page"))? + marker.len();
    Ok(html[start..].split('"').next().unwrap_or_default().to_owned())
}
