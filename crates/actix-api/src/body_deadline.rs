//! A deadline on each request body (`REQUEST_BODY_TIMEOUT_SECONDS`). actix-web bounds the wait
//! for a request's head (`client_request_timeout`), not for its body: a client that sends a
//! `Content-Length` or a chunk and then stalls would hold its connection for ever.
//!
//! Every body is read through a [`Deadline`], which fails the read once the time since the head
//! arrived has run out; the extractor reading it then answers `408 REQUEST_TIMEOUT` (see
//! `extract.rs`), an answer that closes the connection (see `error.rs`). A body not read to its
//! end is kept alive until the answer has been written ([`Holding`]): actix-http closes the
//! connection after an answer whose request body is still being read, but would wait for the
//! rest of a chunked body whose reader is gone, with no deadline.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::rt::time::{Sleep, sleep};
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage};
use futures_util::Stream;

/// What a body read fails with when its deadline has passed.
#[derive(Debug)]
pub(crate) struct BodyTimedOut;

impl fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl BodyTimedOut {
    /// Whether `error` is a body read that ran out of time (and not the connection failing).
    pub(crate) fn caused(error: &PayloadError) -> bool {
        matches!(error, PayloadError::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<Self>()))
    }

    /// The answer to it: `408 REQUEST_TIMEOUT` (the connection is closed after it).
    pub(crate) fn answer() -> crate::ApiError {
        crate::ApiError::new(crate::ErrorCode::RequestTimeout, "the request body did not arrive in time")
    }
}

/// The middleware: puts the request's body, if it has one, behind a deadline of `timeout`
/// counted from now (the head has been read), and keeps it until the answer is written unless
/// it was read to its end.
pub(crate) fn limit<S, B>(
    timeout: Duration,
    mut req: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse<EitherBody<B>>, Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody + 'static,
{
    let body = match req.take_payload() {
        Payload::None => None,
        payload => {
            let body = Deadline(Rc::new(RefCell::new(Reading {
                payload,
                timer: Box::pin(sleep(timeout)),
                state: State::Reading,
            })));
            req.set_payload(Payload::from(Box::pin(body.clone()) as Pin<Box<dyn Stream<Item = _>>>));
            Some(body)
        }
    };
    let answer = service.call(req);
    async move {
        let answer = answer.await?;
        Ok(match body.filter(|b| b.0.borrow().state != State::Ended) {
            None => answer.map_into_left_body(),
            Some(held) => {
                answer.map_body(|_, body| EitherBody::right(BoxBody::new(Holding { body: body.boxed(), _held: held })))
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    /// The body arrived whole.
    Ended,
    /// The deadline passed, or the connection failed.
    Failed,
}

struct Reading {
    payload: Payload,
    timer: Pin<Box<Sleep>>,
    state: State,
}

/// A body that yields its bytes until its timer fires, then one [`BodyTimedOut`] error and the
/// end. The extractor reads one handle, the middleware keeps the other.
#[derive(Clone)]
struct Deadline(Rc<RefCell<Reading>>);

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut body = self.0.borrow_mut();
        let body = &mut *body;
        if body.state != State::Reading {
            return Poll::Ready(None);
        }
        match Pin::new(&mut body.payload).poll_next(cx) {
            Poll::Ready(None) => {
                body.state = State::Ended;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(e))) => {
                body.state = State::Failed;
                return Poll::Ready(Some(Err(e)));
            }
            Poll::Ready(Some(Ok(bytes))) => return Poll::Ready(Some(Ok(bytes))),
            Poll::Pending => {}
        }
        if body.timer.as_mut().poll(cx).is_ready() {
            body.state = State::Failed;
            let error = std::io::Error::new(std::io::ErrorKind::TimedOut, BodyTimedOut);
            return Poll::Ready(Some(Err(PayloadError::Io(error))));
        }
        Poll::Pending
    }
}

/// An answer's body, holding the unfinished request body it answers.
struct Holding {
    body: BoxBody,
    /// Only kept: dropping it is what lets actix-http go back to waiting for the body.
    _held: Deadline,
}

impl MessageBody for Holding {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}
