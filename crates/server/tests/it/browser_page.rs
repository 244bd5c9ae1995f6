//! The hosted connect page in a real browser (headless Chromium): a person opens a session's
//! `connect_url`, lands on the page at a URL without the token, and connects an OAuth server
//! (through the in-repo authorization server's consent page) and an API-key server (typing the
//! key and pressing Enter). Each step's screenshot is kept in `docs/screenshots/`.

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::Value;
use test_oauth_server::{TestAuthConfig, TestAuthServer};

use crate::browser::Browser;
use crate::connect_page::connect_url;
use crate::helpers::{Spawn, TestApp};
use crate::oauth_flow::{CLIENT_SECRET, oauth_catalog};

/// A phone's viewport, for the page's first screenshot.
const PHONE: (u32, u32) = (390, 780);

/// The service with the OAuth test catalog, its authorization server showing a consent page.
async fn spawn() -> (TestApp, TestAuthServer) {
    let auth = TestAuthServer::start(TestAuthConfig { consent_page: true, ..Default::default() }).await;
    let app = Spawn::default().catalog(oauth_catalog(&auth)).var("ACME_CLIENT_SECRET", CLIENT_SECRET).start().await;
    (app, auth)
}

/// `user`'s connections as the engine lists them: (server name, status).
async fn connections_of(app: &TestApp, user: &str) -> Vec<(String, String)> {
    let list = app.client.get(app.url("/assets/connections")).header("X-Engine-Key", &app.key);
    let list: Value = list.header("X-End-User-Id", user).send().await.unwrap().json().await.unwrap();
    let pair = |c: &Value| (c["server_name"].as_str().unwrap().to_owned(), c["status"].as_str().unwrap().to_owned());
    list.as_array().unwrap().iter().map(pair).collect()
}

/// Opens `url` and waits for the page that lists the servers, at its clean URL.
async fn open_page(browser: &Browser, app: &TestApp, url: &str) {
    browser.client.goto(url).await.expect("connect_url opens");
    let heading = browser.client.wait().for_element(Locator::XPath("//h1[. = 'Connect your accounts']")).await;
    heading.expect("the page lists the servers");
    let here = browser.client.current_url().await.unwrap();
    assert_eq!(here.as_str(), app.url("/assets/connect-page"), "the token left the address bar");
}

#[tokio::test]
async fn a_person_connects_an_oauth_server_on_the_hosted_page_in_a_real_browser() {
    let (app, auth) = spawn().await;
    let url = connect_url(&app, "alice", Some(&["acme", "keyed"])).await;
    let browser = Browser::start().await;
    browser.client.set_window_size(PHONE.0, PHONE.1).await.expect("a phone's window");
    open_page(&browser, &app, &url).await;
    let cookies = browser.client.get_all_cookies().await.unwrap();
    let session = cookies.iter().find(|c| c.name() == "ad_connect_session").expect("the session cookie");
    assert_eq!((session.http_only(), format!("{:?}", session.same_site())), (Some(true), "Some(Strict)".into()));
    browser.screenshot("page-1-servers").await;
    browser.client.back().await.expect("back");
    let before = browser.client.current_url().await.unwrap();
    // The entry with the token was replaced: one step back leaves the service altogether.
    assert!(!before.as_str().starts_with(&app.address), "the token's URL stayed in the history: {before}");
    browser.client.forward().await.expect("forward");

    browser.client.set_window_size(800, 600).await.expect("a desktop window");
    let connect = browser.client.find(Locator::XPath("//button[. = 'Connect Acme']")).await.unwrap();
    connect.click().await.expect("Connect is clicked");
    let allow = browser.client.wait().for_element(Locator::Id("allow")).await.expect("the provider's consent page");
    browser.screenshot("page-2-consent").await;

    allow.click().await.expect("access is allowed");
    let heading = browser.client.wait().for_element(Locator::XPath("//h1[starts-with(., 'Connected')]")).await;
    assert_eq!(heading.expect("the result page").text().await.unwrap(), "Connected to Acme.");
    browser.screenshot("page-3-connected").await;
    browser.stop().await;

    assert_eq!(connections_of(&app, "alice").await, [("acme".to_owned(), "connected".to_owned())]);
    assert_eq!(auth.code_exchanges(), 1);
}

#[tokio::test]
async fn a_person_connects_an_api_key_server_on_the_hosted_page_with_the_keyboard() {
    let (app, _auth) = spawn().await;
    let url = connect_url(&app, "alice", Some(&["acme", "keyed"])).await;
    let browser = Browser::start().await;
    open_page(&browser, &app, &url).await;
    let key = "sk-browser-Qm7Zt2Lw9Xv4";
    let field = browser.client.find(Locator::Css("input#key-keyed")).await.expect("a labelled key field");
    let label = browser.client.find(Locator::Css("label[for=key-keyed]")).await.unwrap();
    assert_eq!(label.text().await.unwrap(), "API key for Keyed");
    assert_eq!(field.attr("type").await.unwrap().as_deref(), Some("password"));
    field.send_keys(key).await.expect("the key is typed");
    browser.screenshot("page-4-api-key").await;

    field.send_keys(&String::from(char::from(Key::Enter))).await.expect("Enter submits the form");
    let notice = browser.client.wait().for_element(Locator::Css("p[role=status]")).await;
    assert_eq!(notice.expect("the page says so").text().await.unwrap(), "Connected to Keyed.");
    let here = browser.client.current_url().await.unwrap();
    assert_eq!(here.as_str(), app.url("/assets/connect-page?connected=keyed"));
    let source = browser.client.source().await.unwrap();
    assert!(!source.contains(key), "the page never holds the key");
    let field = browser.client.find(Locator::Css("input#key-keyed")).await.unwrap();
    assert_eq!(field.prop("value").await.unwrap().as_deref(), Some(""), "the field is empty again");
    browser.screenshot("page-5-api-key-connected").await;
    browser.stop().await;

    assert_eq!(connections_of(&app, "alice").await, [("keyed".to_owned(), "connected".to_owned())]);
}
