//! Fake notification receivers, real servers on 127.0.0.1: an HTTP recorder (webhook, Slack,
//! Alertmanager API) whose answer the test controls (status code, or hang), a fake Telegram
//! Bot API, and an SMTP sink that speaks enough SMTP for lettre and keeps each message.

use super::FakeServer;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One received HTTP request.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    /// Path.
    pub path: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// When.
    pub at: std::time::Instant,
}

impl Received {
    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// What the recorder answers.
#[derive(Default)]
pub(crate) struct Behaviour {
    /// Status to answer (0: 200).
    pub status: AtomicU16,
    /// Answer this many requests with `status`, then 200 (0: always `status`).
    pub fail_first: AtomicUsize,
    /// Never answer.
    pub hang: AtomicBool,
    /// When failing, echo the request (path, query and headers) in the body, as some
    /// receivers do in their error pages.
    pub echo: AtomicBool,
}

/// An HTTP recorder.
pub(crate) struct Recorder {
    /// The server.
    pub server: FakeServer,
    /// Requests that got an answer of 2xx.
    pub got: Arc<Mutex<Vec<Received>>>,
    /// Every request seen (also failed ones).
    pub seen: Arc<AtomicUsize>,
    /// Control.
    pub behaviour: Arc<Behaviour>,
}

type Shared = (Arc<Mutex<Vec<Received>>>, Arc<AtomicUsize>, Arc<Behaviour>);

async fn record(State((got, seen, b)): State<Shared>, req: Request) -> impl IntoResponse {
    let path = req.uri().path().to_string();
    let echoed = format!("{} {:?}", req.uri(), req.headers());
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 10 << 20).await.unwrap_or_default();
    let n = seen.fetch_add(1, Ordering::SeqCst);
    if b.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    let status = b.status.load(Ordering::SeqCst);
    let limit = b.fail_first.load(Ordering::SeqCst);
    if status != 0 && (limit == 0 || n < limit) {
        let text = if b.echo.load(Ordering::SeqCst) { echoed } else { "broken on purpose".to_string() };
        return (StatusCode::from_u16(status).unwrap(), text).into_response();
    }
    got.lock().unwrap().push(Received { path, headers, body, at: std::time::Instant::now() });
    (StatusCode::OK, "ok").into_response()
}

impl Recorder {
    /// Starts a recorder answering 200.
    pub(crate) async fn start() -> Recorder {
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(AtomicUsize::new(0));
        let behaviour = Arc::new(Behaviour::default());
        let router = Router::new().fallback(record).with_state((got.clone(), seen.clone(), behaviour.clone()));
        Recorder { server: FakeServer::start(router).await, got, seen, behaviour }
    }

    /// `http://addr/path`.
    pub(crate) fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Requests received so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// A fake Telegram Bot API: `POST /bot<token>/<method>`; answers `sendMessage` like Telegram.
pub(crate) struct FakeTelegram {
    /// The server.
    pub server: FakeServer,
    /// (path, JSON body) of every call.
    pub calls: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    /// Answer this many calls with 429 and `retry_after: 1` first.
    pub flood_first: Arc<AtomicUsize>,
}

impl FakeTelegram {
    /// Starts it.
    pub(crate) async fn start() -> FakeTelegram {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let flood_first = Arc::new(AtomicUsize::new(0));
        let (c, f) = (calls.clone(), flood_first.clone());
        let router = Router::new().fallback(move |req: Request| {
            let (c, f) = (c.clone(), f.clone());
            async move {
                let path = req.uri().path().to_string();
                let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if f.load(Ordering::SeqCst) > 0 {
                    f.fetch_sub(1, Ordering::SeqCst);
                    let err = serde_json::json!({"ok": false, "error_code": 429,
                        "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}});
                    return (StatusCode::TOO_MANY_REQUESTS, axum::Json(err));
                }
                let chat = v["chat_id"].clone();
                let text = v["text"].clone();
                c.lock().unwrap().push((path, v));
                let msg = serde_json::json!({"ok": true, "result": {"message_id": 7, "date": 1700000000,
                    "chat": {"id": chat.as_i64().unwrap_or(1), "type": "private", "first_name": "oncall"},
                    "text": text}});
                (StatusCode::OK, axum::Json(msg))
            }
        });
        FakeTelegram { server: FakeServer::start(router).await, calls, flood_first }
    }
}

/// Messages an SMTP sink got: (envelope recipients, raw DATA).
pub(crate) type Mails = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// An SMTP sink: accepts every message and keeps (envelope recipients, raw DATA).
pub(crate) struct SmtpSink {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// Messages.
    pub messages: Mails,
}

impl SmtpSink {
    /// Starts it.
    pub(crate) async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let m = messages.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let m = m.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut r = BufReader::new(r);
                    let _ = w.write_all(b"220 sink.test ESMTP\r\n").await;
                    let mut rcpt = Vec::new();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let cmd = line.trim_end().to_ascii_uppercase();
                        let reply: &[u8] = if cmd.starts_with("EHLO") {
                            b"250-sink.test\r\n250 8BITMIME\r\n"
                        } else if cmd.starts_with("HELO")
                            || cmd.starts_with("MAIL")
                            || cmd.starts_with("RSET")
                            || cmd.starts_with("NOOP")
                        {
                            b"250 OK\r\n"
                        } else if cmd.starts_with("RCPT") {
                            rcpt.push(line.trim_end()[8..].trim().to_string());
                            b"250 OK\r\n"
                        } else if cmd == "DATA" {
                            let _ = w.write_all(b"354 go ahead\r\n").await;
                            let mut data = String::new();
                            loop {
                                line.clear();
                                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if line == ".\r\n" {
                                    break;
                                }
                                data.push_str(&line);
                            }
                            m.lock().unwrap().push((std::mem::take(&mut rcpt), data));
                            b"250 queued\r\n"
                        } else if cmd == "QUIT" {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"502 not implemented\r\n"
                        };
                        let _ = w.write_all(reply).await;
                    }
                });
            }
        });
        SmtpSink { port, messages }
    }
}
