//! The protocol layer: the API table ([`apis`]) that decodes, bounds-checks and dispatches every
//! request, the request bounds (`request_bounds`), and the zero-copy Fetch response encoder
//! ([`fetch_response`]).

pub mod apis;
pub(crate) mod faults;
pub mod fetch_response;
pub mod frame;
pub(crate) mod refusals;
pub(crate) mod request_bounds;
#[doc(hidden)]
pub mod sasl_fuzz;
pub(crate) mod throttle;
