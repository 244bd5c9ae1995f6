//! Today's OAuth flow in a real browser: the engine starts it over the API, a person opens
//! `auth_url` in headless Chromium, allows access on the authorization server's page, and lands
//! on the service's callback page; the API then lists the connection `connected`. Each step's
//! screenshot is kept in `docs/screenshots/`.

use fantoccini::Locator;
use serde_json::json;
use test_oauth_server::{TestAuthConfig, TestAuthServer};

use crate::browser::Browser;
use crate::helpers::Spawn;
use crate::oauth_flow::{CLIENT_SECRET, oauth_catalog, status_of};

#[tokio::test]
async fn an_oauth_connection_is_completed_by_a_person_in_a_real_browser() {
    let auth = TestAuthServer::start(TestAuthConfig { consent_page: true, ..Default::default() }).await;
    let app = Spawn::default().catalog(oauth_catalog(&auth)).var("ACME_CLIENT_SECRET", CLIENT_SECRET).start().await;
    let created = app.connect(json!({"server_name": "acme"})).await;
    let (ref_id, auth_url) = (created["ref_id"].as_str().unwrap(), created["auth_url"].as_str().unwrap());
    assert_eq!(status_of(&app, ref_id).await, "pending_oauth");

    let browser = Browser::start().await;
    browser.client.goto(auth_url).await.expect("the authorization server's page opens");
    let allow = browser.client.wait().for_element(Locator::Id("allow")).await.expect("a button to allow access");
    let asks = browser.client.find(Locator::Css("p")).await.unwrap().text().await.unwrap();
    assert_eq!(asks, "test-client asks for access to your account.");
    browser.screenshot("oauth-1-consent").await;

    allow.click().await.expect("the button is clicked");
    // The consent page has a heading too: wait for the callback page's own (the navigation may
    // not have happened yet when the click returns).
    let heading = browser.client.wait().for_element(Locator::XPath("//h1[starts-with(., 'Connected')]")).await;
    let heading = heading.expect("the callback page says the connection is made");
    let on_callback = browser.client.current_url().await.unwrap();
    assert!(on_callback.as_str().starts_with(&app.url("/assets/oauth/callback?")), "{on_callback}");
    assert_eq!(heading.text().await.unwrap(), "Connected to Acme.");
    let page = browser.client.find(Locator::Css("body")).await.unwrap().text().await.unwrap();
    assert!(page.contains("You can close this window."), "{page}");
    browser.screenshot("oauth-2-connected").await;
    browser.stop().await;

    assert_eq!(status_of(&app, ref_id).await, "connected");
    assert_eq!(auth.code_exchanges(), 1, "the browser's code was exchanged once");
}
