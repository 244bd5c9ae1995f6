//! One registry for routes and their documentation. An [`Endpoint`] is built from handlers and
//! their `#[utoipa::path]` annotations: the annotation names the method and path the handler is
//! served at, so a handler cannot be routed without being documented, and the OpenAPI document
//! is assembled from the very endpoints the app registers.
//!
//! Architecture invariant: every route of the API is an `Endpoint` (a test reads the sources to
//! hold this). Whether an endpoint needs `X-Engine-Key` is one flag, which both wraps the
//! resource in the key guard and sets the operation's `security` in the document. An endpoint
//! made with [`Endpoint::keyed`] acts for a [`crate::Caller`]: its operations declare the
//! optional `X-End-User-Id` header and the `422` a malformed one gets, here, once for all.
//!
//! Every `GET` is served as `HEAD` too (RFC 9110 §9.3.2), by the same handler: actix-http sends
//! the status and headers, `Content-Length` included, and drops the body. The document lists the
//! `GET` only. A `GET` that acts (the OAuth redirect target) opts out with
//! [`Endpoint::without_head`].

use std::rc::Rc;

use actix_web::dev::{AppService, HttpServiceFactory, Service, ServiceRequest};
use actix_web::http::Method;
use actix_web::http::header::HeaderValue;
use actix_web::middleware::from_fn;
use actix_web::{FromRequest, Handler, HttpMessage, Resource, Responder, Route as ActixRoute, web};
use utoipa::openapi::path::{HttpMethod, Operation, Parameter, ParameterBuilder, ParameterIn, Paths};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{PathItem, Ref, RefOr, Required, ResponseBuilder};

use crate::caller::END_USER_HEADER;
use utoipa_actix_web::OpenApiFactory;

use crate::key_guard::require_engine_key;
use crate::openapi::{ENGINE_KEY_SCHEME, PAGE_SESSION_SCHEME, PROXY_TOKEN_SCHEME, SESSION_SCHEME};
use crate::routes::method_not_allowed;
use crate::session_guard::require_engine_key_or_session;

/// A path, its handlers (one per method) and their OpenAPI operations.
pub(crate) struct Endpoint {
    path: String,
    resource: Resource,
    paths: Paths,
    schemas: Vec<(String, RefOr<Schema>)>,
    keyed: bool,
    /// Whether its handlers act for a `Caller` (and so read `X-End-User-Id`).
    for_caller: bool,
    /// The methods documented, for the `Allow` header of a `405`.
    methods: Vec<Method>,
    /// The `HEAD` twins of the `GET` routes, added at registration unless `head` is off.
    head_routes: Vec<ActixRoute>,
    head: bool,
    /// Whether a bearer token (a connect session's, or on the proxy routes a proxy token) may
    /// stand in for `X-Engine-Key`; the handler's extractor checks which.
    sessions: bool,
}

impl Endpoint {
    /// An endpoint that requires `X-Engine-Key` and acts for a `Caller` (the key's tenant and
    /// the `X-End-User-Id` it names), serving `handler` as `doc` describes.
    pub(crate) fn keyed<P, F, Args>(doc: P, handler: F) -> Self
    where
        P: OpenApiFactory + utoipa::Path,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        Self::empty(true, true, P::path()).and(doc, handler)
    }

    /// An endpoint anyone may call (health checks, the OAuth redirect target).
    pub(crate) fn public<P, F, Args>(doc: P, handler: F) -> Self
    where
        P: OpenApiFactory + utoipa::Path,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        Self::new(false, doc, handler)
    }

    /// An endpoint whose key requirement is configured (`/metrics`, `/openapi.json`).
    pub(crate) fn new<P, F, Args>(keyed: bool, doc: P, handler: F) -> Self
    where
        P: OpenApiFactory + utoipa::Path,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        Self::empty(keyed, false, P::path()).and(doc, handler)
    }

    fn empty(keyed: bool, for_caller: bool, path: String) -> Self {
        Self {
            resource: web::resource(path.as_str()),
            path,
            paths: Paths::new(),
            schemas: Vec::new(),
            keyed,
            for_caller,
            methods: Vec::new(),
            head_routes: Vec::new(),
            head: true,
            sessions: false,
        }
    }

    /// Serves another method on the same path.
    ///
    /// # Panics
    /// When `doc` names another path: a programming error every test run catches at start-up.
    pub(crate) fn and<P, F, Args>(mut self, doc: P, handler: F) -> Self
    where
        P: OpenApiFactory + utoipa::Path,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        assert_eq!(P::path(), self.path, "one endpoint serves one path");
        for method in P::methods() {
            let method = actix_method(&method);
            if method == Method::GET {
                self.head_routes.push(web::method(Method::HEAD).to(handler.clone()));
            }
            self.resource = self.resource.route(web::method(method.clone()).to(handler.clone()));
            self.methods.push(method);
        }
        let mut paths = doc.paths();
        for item in paths.paths.values_mut() {
            for operation in operations_mut(item) {
                if !self.keyed {
                    operation.security = Some(Vec::new());
                }
                if self.for_caller {
                    declare_end_user(operation);
                }
            }
        }
        self.paths.merge(paths);
        doc.schemas(&mut self.schemas);
        self
    }

    /// Serves no `HEAD`: for a `GET` with an effect a probe must not trigger.
    pub(crate) fn without_head(mut self) -> Self {
        self.head = false;
        self
    }

    /// Also accepts `Authorization: Bearer <session_token>` instead of `X-Engine-Key`
    /// (`POST /assets/connect` only: `crate::session_guard`). The document says so.
    pub(crate) fn accepting_sessions(self) -> Self {
        self.accepting_bearer(SESSION_SCHEME)
    }

    /// Also accepts `Authorization: Bearer <proxy token>` instead of `X-Engine-Key` (the MCP
    /// proxy's routes: `crate::routes::proxy`, which checks the token is this connection's).
    pub(crate) fn accepting_proxy_tokens(self) -> Self {
        self.accepting_bearer(PROXY_TOKEN_SCHEME)
    }

    /// A bearer token of `scheme` stands in for `X-Engine-Key`; the handler's extractor checks it.
    fn accepting_bearer(mut self, scheme: &str) -> Self {
        self.sessions = true;
        for item in self.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                operation.security = Some(vec![
                    SecurityRequirement::new(ENGINE_KEY_SCHEME, Vec::<String>::new()),
                    SecurityRequirement::new(scheme, Vec::<String>::new()),
                ]);
            }
        }
        self
    }

    /// A public endpoint that acts only for the connect session in its cookie (the hosted connect
    /// page, which checks it itself). The document says so.
    pub(crate) fn for_page_session(mut self) -> Self {
        for item in self.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                operation.security = Some(vec![SecurityRequirement::new(PAGE_SESSION_SCHEME, Vec::<String>::new())]);
            }
        }
        self
    }

    /// The methods served, in the order `Allow` lists them: `HEAD` right after `GET`.
    fn served(&self) -> Vec<&str> {
        let head = self.head && !self.head_routes.is_empty();
        let mut served = Vec::new();
        for method in &self.methods {
            served.push(method.as_str());
            if head && *method == Method::GET {
                served.push("HEAD");
            }
        }
        served
    }

    /// This endpoint's part of the OpenAPI document.
    pub(crate) fn documentation(&self) -> (Paths, Vec<(String, RefOr<Schema>)>) {
        (self.paths.clone(), self.schemas.clone())
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        let allow = HeaderValue::from_str(&self.served().join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""));
        let mut resource = self.resource;
        if self.head {
            for route in self.head_routes {
                resource = resource.route(route);
            }
        }
        let resource = resource.default_service(web::to(move |req| method_not_allowed(req, allow.clone())));
        // The request span's route is this endpoint's path: known here without matching again.
        let route: Rc<str> = Rc::from(self.path.as_str());
        if self.sessions {
            resource.wrap(from_fn(require_engine_key_or_session)).wrap_fn(recording(route)).register(config);
        } else if self.keyed {
            resource.wrap(from_fn(require_engine_key)).wrap_fn(recording(route)).register(config);
        } else {
            resource.wrap_fn(recording(route)).register(config);
        }
    }
}

/// The route pattern of the endpoint that took a request, in the request's extensions: the
/// request span and the metrics label read it there instead of matching the path again.
#[derive(Debug, Clone)]
pub(crate) struct Route(pub(crate) Rc<str>);

/// Records `route` on the request (see [`Route`]) and as the request span's `http.route`, then
/// calls the service.
fn recording<S: Service<ServiceRequest>>(route: Rc<str>) -> impl Fn(ServiceRequest, &S) -> S::Future + Clone + 'static {
    move |req, service| {
        tracing::Span::current().record("http.route", &*route);
        req.extensions_mut().insert(Route(Rc::clone(&route)));
        service.call(req)
    }
}

/// Adds the optional `X-End-User-Id` header to `operation`, and its `422` unless declared.
fn declare_end_user(operation: &mut Operation) {
    operation.parameters.get_or_insert_with(Vec::new).push(RefOr::T(end_user_parameter()));
    let responses = &mut operation.responses.responses;
    responses.entry("422".to_owned()).or_insert_with(|| {
        let body = utoipa::openapi::content::ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody")));
        RefOr::T(
            ResponseBuilder::new()
                .description("`VALIDATION_ERROR`: a malformed `X-End-User-Id`")
                .content("application/json", body.build())
                .build(),
        )
    });
}

fn end_user_parameter() -> Parameter {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(domain::UserId::MAX_CHARS))
        .pattern(Some("^[A-Za-z0-9._:@+-]+$"));
    ParameterBuilder::new()
        .name(END_USER_HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The end user the call acts for, within the engine key's tenant. Without it the user is \
             `default`. Another user's (or tenant's) `ref_id` answers `404 CONNECTION_NOT_FOUND`, as an \
             unknown one does.",
        ))
        .schema(Some(schema))
        .build()
}

fn actix_method(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

pub(crate) fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}
