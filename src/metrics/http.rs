//! The metrics endpoint's HTTP, without I/O: where a request head ends, what
//! it asks for ([`route`]), and the response's bytes ([`response`]). The
//! endpoint itself (sockets, timeouts, the cap on connections) is
//! `crate::scrape`.
//!
//! It speaks just enough HTTP/1.1 (RFC 9112) for a scraper: one request per
//! connection, `GET` or `HEAD` of `/metrics` (a query string is ignored), no
//! request body, every response with `Content-Length` and `Connection:
//! close`.

use std::time::{SystemTime, UNIX_EPOCH};

/// The content type of Prometheus's text format, version 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The longest request head read, request line and headers together.
pub const MAX_HEAD: usize = 8 * 1024;

/// The only path served.
pub const PATH: &str = "/metrics";

/// The answers the endpoint gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 200: the metrics.
    Ok,
    /// 400: not an HTTP request line, or HTTP/1.1 without `Host`.
    BadRequest,
    /// 404: a path other than `/metrics`.
    NotFound,
    /// 405: a method other than `GET` and `HEAD`.
    MethodNotAllowed,
    /// 408: no complete request head in time.
    RequestTimeout,
    /// 431: a request head over [`MAX_HEAD`].
    HeadTooLarge,
    /// 503: too many connections at once, or chatd is shutting down.
    Unavailable,
    /// 505: not HTTP/1.0 or 1.1.
    VersionNotSupported,
}

impl Status {
    /// The status line's code and reason phrase.
    pub fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::RequestTimeout => "408 Request Timeout",
            Status::HeadTooLarge => "431 Request Header Fields Too Large",
            Status::Unavailable => "503 Service Unavailable",
            Status::VersionNotSupported => "505 HTTP Version Not Supported",
        }
    }
}

/// What a complete request head asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The metrics ([`Status::Ok`]), or the error to answer with.
    pub status: Status,
    /// A `HEAD` request: the same headers, no body.
    pub head_only: bool,
    /// Why it is refused, for the body of an error.
    pub why: &'static str,
}

/// Where the request head in `buffer` ends (the index just past its blank
/// line), once it is all there. Lines may end in `\r\n` or a bare `\n`.
pub fn head_end(buffer: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(at) = buffer[start..].iter().position(|&b| b == b'\n') {
        let line = &buffer[start..start + at];
        // The request line itself is never the blank line.
        if start > 0 && (line.is_empty() || line == b"\r") {
            return Some(start + at + 1);
        }
        start += at + 1;
    }
    None
}

/// What the request head `head` (up to [`head_end`]) asks for.
pub fn route(head: &[u8]) -> Request {
    let refuse = |status, why| Request {
        status,
        head_only: false,
        why,
    };
    let Ok(head) = std::str::from_utf8(head) else {
        return refuse(Status::BadRequest, "the request head is not UTF-8");
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return refuse(
            Status::BadRequest,
            "expected a request line: METHOD /metrics HTTP/1.1",
        );
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) || target.is_empty() {
        return refuse(
            Status::BadRequest,
            "expected a request line: METHOD /metrics HTTP/1.1",
        );
    }
    let Some(minor) = version.strip_prefix("HTTP/") else {
        return refuse(Status::BadRequest, "expected HTTP/1.1 or HTTP/1.0");
    };
    match minor {
        "1.1" => {
            let has_host = lines.any(|line| {
                line.split_once(':')
                    .is_some_and(|(name, _)| name.eq_ignore_ascii_case("host"))
            });
            if !has_host {
                return refuse(
                    Status::BadRequest,
                    "an HTTP/1.1 request needs a Host header",
                );
            }
        }
        "1.0" => {}
        _ => {
            return refuse(
                Status::VersionNotSupported,
                "only HTTP/1.1 and 1.0 are served",
            );
        }
    }
    let head_only = method == "HEAD";
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let (status, why) = if path != PATH {
        (Status::NotFound, "only /metrics is served here")
    } else if method != "GET" && !head_only {
        (Status::MethodNotAllowed, "only GET and HEAD are allowed")
    } else {
        (Status::Ok, "")
    };
    Request {
        status,
        head_only,
        why,
    }
}

/// RFC 9110's token characters, which a method is made of.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The whole response: the status line, the headers (`Date`,
/// `Content-Type`, `Content-Length`, `Connection: close`, and `Allow` for a
/// 405), then `body`, unless `head_only`.
pub fn response(
    status: Status,
    content_type: &str,
    body: &str,
    head_only: bool,
    now: SystemTime,
) -> Vec<u8> {
    let allow = if status == Status::MethodNotAllowed {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut out = format!(
        "HTTP/1.1 {}\r\nDate: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        status.line(),
        http_date(now),
        body.len(),
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// An error's response: its reason as a line of plain text.
pub fn error_response(request: Request, now: SystemTime) -> Vec<u8> {
    let body = format!("{}: {}\n", request.status.line(), request.why);
    response(
        request.status,
        "text/plain; charset=utf-8",
        &body,
        request.head_only,
        now,
    )
}

/// `now` as HTTP writes dates: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(now: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (y, m, d) = crate::log::civil_from_days(days);
    let rem = secs % 86_400;
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[m as usize - 1],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn routed(head: &str) -> (Status, bool) {
        let request = route(head.as_bytes());
        (request.status, request.head_only)
    }

    #[test]
    fn the_head_ends_at_the_first_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(head_end(b""), None);
    }

    #[test]
    fn get_and_head_of_metrics() {
        let get = "GET /metrics HTTP/1.1\r\nHost: localhost:9194\r\nAccept: */*\r\n\r\n";
        assert_eq!(routed(get), (Status::Ok, false));
        assert_eq!(
            routed("HEAD /metrics HTTP/1.1\r\nhost: x\r\n\r\n"),
            (Status::Ok, true)
        );
        assert_eq!(
            routed("GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            (Status::Ok, false)
        );
    }

    #[test]
    fn other_paths_are_not_found_and_other_methods_not_allowed() {
        assert_eq!(routed("GET / HTTP/1.0\r\n\r\n").0, Status::NotFound);
        assert_eq!(
            routed("HEAD /metrics/x HTTP/1.0\r\n\r\n"),
            (Status::NotFound, true)
        );
        assert_eq!(
            routed("POST /metrics HTTP/1.0\r\n\r\n").0,
            Status::MethodNotAllowed
        );
        assert_eq!(
            routed("DELETE /metrics HTTP/1.0\r\n\r\n").0,
            Status::MethodNotAllowed
        );
    }

    #[test]
    fn what_is_not_http_is_a_bad_request() {
        for head in [
            "GET /metrics\r\n\r\n",
            "GET  /metrics HTTP/1.0\r\n\r\n",
            "GET /metrics HTTP/1.0 x\r\n\r\n",
            "G(T /metrics HTTP/1.0\r\n\r\n",
            "GET /metrics FTP/1.0\r\n\r\n",
            "\r\n\r\n",
            "GET /metrics HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(routed(head).0, Status::BadRequest, "{head:?}");
        }
        assert_eq!(
            route(b"GET /\xff HTTP/1.0\r\n\r\n").status,
            Status::BadRequest
        );
        assert_eq!(
            routed("GET /metrics HTTP/2.0\r\n\r\n").0,
            Status::VersionNotSupported
        );
    }

    #[test]
    fn a_response_has_its_length_and_closes() {
        let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let ok = response(Status::Ok, METRICS_CONTENT_TYPE, "a 1\n", false, at);
        assert_eq!(
            String::from_utf8(ok).unwrap(),
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: 4\r\nConnection: close\r\n\r\na 1\n"
        );
        let head = response(Status::Ok, METRICS_CONTENT_TYPE, "a 1\n", true, at);
        assert!(
            String::from_utf8(head)
                .unwrap()
                .ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n")
        );
    }

    #[test]
    fn a_405_says_what_is_allowed() {
        let request = route(b"PUT /metrics HTTP/1.0\r\n\r\n");
        let text = String::from_utf8(error_response(request, UNIX_EPOCH)).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nAllow: GET, HEAD\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n405 Method Not Allowed: only GET and HEAD are allowed\n"));
    }

    #[test]
    fn dates_as_http_writes_them() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(http_date(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
