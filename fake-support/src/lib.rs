//! What Signet's fakes of outside services share.
//!
//! Each fake is a process that tests start: it prints one ready line
//! (`<name> listening key=addr …`) on stdout once its sockets listen, and
//! stops on SIGTERM, ctrl-c or, with `--exit-with-stdin`, when its stdin
//! closes (so it dies with the test that started it). Its control API is
//! plain HTTP/1 with JSON answers.

use std::convert::Infallible;
use std::fmt::Display;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tracing_subscriber::EnvFilter;

/// A started fake: what its ready line lists, `(key, address)` pairs.
pub trait Ready {
    /// The listening addresses, by the names tests look for.
    fn addresses(&self) -> Vec<(&'static str, SocketAddr)>;
}

/// The ready line: `<name> listening k1=a1 k2=a2`.
#[must_use]
pub fn ready_line(name: &str, addresses: &[(&'static str, SocketAddr)]) -> String {
    let mut line = format!("{name} listening");
    for (key, addr) in addresses {
        line.push_str(&format!(" {key}={addr}"));
    }
    line
}

/// A fake's `main` after its arguments are read: logs to stderr (`RUST_LOG`,
/// default `info`), refuses a bad `config` with exit code 2, starts the fake
/// on a two-thread runtime, prints the ready line, and runs until SIGTERM,
/// ctrl-c or (with `exit_with_stdin`) the end of stdin.
pub fn run<C, E, R, F, Fut>(
    name: &str,
    config: Result<C, String>,
    exit_with_stdin: bool,
    start: F,
) -> ExitCode
where
    E: Display,
    R: Ready,
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let running = match start(config).await {
            Ok(running) => running,
            Err(e) => {
                eprintln!("{name}: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Listening for the signals before saying so.
        let shutdown = shutdown_signal(exit_with_stdin);
        let line = ready_line(name, &running.addresses());
        tracing::info!("{line}");
        let mut stdout = std::io::stdout().lock();
        let printed = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
        drop(stdout);
        if let Err(e) = printed {
            eprintln!("{name}: writing the ready line: {e}");
            return ExitCode::FAILURE;
        }
        shutdown.await;
        tracing::info!("stopping");
        drop(running);
        ExitCode::SUCCESS
    })
}

/// Resolves on SIGTERM, ctrl-c, or (with `exit_with_stdin`) end of stdin.
///
/// The signal handlers are installed when this is called, not when the
/// future is first polled: call it before announcing readiness, so that a
/// SIGTERM sent right after the ready line is caught (and the fake exits 0)
/// instead of killing the process with the default action.
pub fn shutdown_signal(exit_with_stdin: bool) -> impl Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
        Ok(sig) => Some(sig),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for {name}");
            None
        }
    };
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM");
    let mut interrupt = listen(SignalKind::interrupt(), "SIGINT");
    let stdin_closed = exit_with_stdin.then(|| {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // A plain thread: a blocking read is all this needs.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = tx.send(());
        });
        rx
    });
    async move {
        let stdin_closed = async move {
            match stdin_closed {
                Some(rx) => {
                    let _ = rx.await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = received(terminate.as_mut()) => {}
            () = received(interrupt.as_mut()) => {}
            () = stdin_closed => {}
        }
    }
}

/// Resolves when `sig` is received; never without a listener.
async fn received(sig: Option<&mut tokio::signal::unix::Signal>) {
    match sig {
        Some(sig) => {
            sig.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// An HTTP/1 connection builder with hyper's timers on tokio.
#[must_use]
pub fn http1_builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new());
    builder
}

/// The next connection; a failed accept (too many open files, say) is
/// logged and retried shortly.
pub async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(conn) => return conn,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves plain HTTP/1 on `listener` forever, each request answered by
/// `handle`; `label` names the connections in the debug log.
pub async fn serve_plain<H, Fut>(listener: TcpListener, label: &'static str, handle: H)
where
    H: Fn(http::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    loop {
        let (tcp, peer) = accept(&listener).await;
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let answer = handle(req);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            if let Err(e) = http1_builder()
                .serve_connection(TokioIo::new(tcp), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "{label} connection ended");
            }
        });
    }
}

/// A JSON answer.
pub fn json_response(
    status: StatusCode,
    value: &(impl Serialize + ?Sized),
) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A JSON error answer `{"error": message}`.
pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    json_response(status, &serde_json::json!({ "error": message.into() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_lists_every_address() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "[::1]:2".parse().unwrap();
        assert_eq!(
            ready_line("signet-x-fake", &[("api", a), ("control", b)]),
            "signet-x-fake listening api=127.0.0.1:1 control=[::1]:2"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_plain_answers_each_request() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_plain(
            listener,
            "test",
            |req: http::Request<Incoming>| async move {
                if req.uri().path() == "/ok" {
                    json_response(StatusCode::OK, &serde_json::json!({"path": "/ok"}))
                } else {
                    error_response(StatusCode::NOT_FOUND, "no such path")
                }
            },
        ));
        let got = tokio::task::spawn_blocking(move || {
            let ok = ureq::get(&format!("http://{addr}/ok")).call().unwrap();
            assert_eq!(ok.header("content-type"), Some("application/json"));
            let body: serde_json::Value = ok.into_json().unwrap();
            let missing = match ureq::get(&format!("http://{addr}/x")).call() {
                Err(ureq::Error::Status(s, r)) => (s, r.into_json::<serde_json::Value>().unwrap()),
                other => panic!("{other:?}"),
            };
            (body, missing)
        })
        .await
        .unwrap();
        assert_eq!(got.0["path"], "/ok");
        assert_eq!(got.1 .0, 404);
        assert_eq!(got.1 .1["error"], "no such path");
    }
}
