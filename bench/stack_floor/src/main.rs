//! stack_floor STACK get N URL        N GETs of URL on one thread (after one warm-up GET)
//! stack_floor STACK threads T N URL  T threads, N GETs each; each thread builds its client
//!
//! STACK is `hyper` (hyper-util's legacy client, no layer on top) or `reqwest` (configured as the
//! library configures it: gzip, rustls, no redirects, a 60 s timeout, no proxy). Each thread runs
//! its GETs on a current-thread tokio runtime of its own, as the library's blocking calls do.
//! Prints the key=value fields of bench/measure.h (bench/run.sh reads them).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};

// One per thread, never moved in the loop: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Stack {
    Hyper(Client<HttpConnector, Empty<Bytes>>, http::Uri),
    Reqwest(reqwest::Client, url::Url),
}

impl Stack {
    fn new(kind: &str, url: &str) -> Stack {
        match kind {
            "hyper" => Stack::Hyper(
                Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
                url.parse().expect("a URL"),
            ),
            _ => Stack::Reqwest(
                reqwest::Client::builder()
                    .gzip(true)
                    .use_rustls_tls()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_secs(60))
                    .no_proxy()
                    .build()
                    .expect("a client"),
                url::Url::parse(url).expect("a URL"),
            ),
        }
    }

    /// One GET; the body's length.
    async fn get(&self) -> Result<usize, String> {
        match self {
            Stack::Hyper(client, uri) => {
                let req = http::Request::get(uri.clone())
                    .header(http::header::ACCEPT, "application/fhir+json")
                    .header(http::header::ACCEPT_ENCODING, "gzip")
                    .header(http::header::USER_AGENT, "stack_floor")
                    .body(Empty::new())
                    .map_err(|e| e.to_string())?;
                let res = client.request(req).await.map_err(|e| e.to_string())?;
                if !res.status().is_success() {
                    return Err(format!("status {}", res.status()));
                }
                let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
                Ok(body.to_bytes().len())
            }
            Stack::Reqwest(client, url) => {
                let res = client
                    .get(url.clone())
                    .header(reqwest::header::ACCEPT, "application/fhir+json")
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !res.status().is_success() {
                    return Err(format!("status {}", res.status()));
                }
                Ok(res.bytes().await.map_err(|e| e.to_string())?.len())
            }
        }
    }
}

/// `n` GETs on this thread (after `warm` unmeasured ones); the bytes received.
fn run(
    kind: &str,
    url: &str,
    warm: usize,
    n: usize,
    span: Option<&mut Span>,
) -> Result<u64, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let stack = Stack::new(kind, url);
    rt.block_on(async {
        for _ in 0..warm {
            stack.get().await?;
        }
        if let Some(s) = span {
            s.begin();
        }
        let mut bytes = 0u64;
        for _ in 0..n {
            bytes += stack.get().await? as u64;
        }
        Ok(bytes)
    })
}

/// As bench/measure.h: wall and process CPU time over the span, context switches summed over the
/// process's threads, VmHWM before and after.
#[derive(Default)]
struct Span {
    wall0: Option<Instant>,
    cpu0: f64,
    vol0: i64,
    invol0: i64,
    hwm0: i64,
}

fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn status_value(path: &str, key: &str) -> i64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(-1)
}

fn switches() -> (i64, i64) {
    let (mut vol, mut invol) = (0, 0);
    for e in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = e.path().join("status");
        let p = p.to_string_lossy();
        vol += status_value(&p, "voluntary_ctxt_switches").max(0);
        invol += status_value(&p, "nonvoluntary_ctxt_switches").max(0);
    }
    (vol, invol)
}

impl Span {
    fn begin(&mut self) {
        self.hwm0 = status_value("/proc/self/status", "VmHWM");
        (self.vol0, self.invol0) = switches();
        self.cpu0 = cpu_seconds();
        self.wall0 = Some(Instant::now());
    }

    fn end(&self) -> String {
        let wall = self.wall0.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
        let cpu = cpu_seconds() - self.cpu0;
        let (vol, invol) = switches();
        let hwm = status_value("/proc/self/status", "VmHWM");
        format!(
            " wall_s={wall:.6} cpu_s={cpu:.6} vcsw={} ivcsw={} hwm_kb={hwm} base_hwm_kb={}",
            vol - self.vol0,
            invol - self.invol0,
            self.hwm0
        )
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let num = |s: &str| s.parse::<usize>().ok();
    let (kind, mode, threads, n, url) = match a.as_slice() {
        [k @ ("hyper" | "reqwest"), "get", n, url] => (*k, "get", 1, num(n), *url),
        [k @ ("hyper" | "reqwest"), "threads", t, n, url] => {
            (*k, "threads", num(t).unwrap_or(0), num(n), *url)
        }
        _ => (
            "",
            "",
            0,
            None,
            "usage: stack_floor hyper|reqwest get N URL | threads T N URL",
        ),
    };
    let Some(n) = n.filter(|_| (1..=64).contains(&threads)) else {
        eprintln!("stack_floor: bad arguments ({url})");
        std::process::exit(2);
    };
    let mut span = Span::default();
    let result = if mode == "get" {
        // One warm-up GET: the connection is open before the span, as in the other programs.
        run(kind, url, 1, n, Some(&mut span))
    } else {
        span.begin();
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (kind, url) = (kind.to_string(), url.to_string());
                std::thread::spawn(move || run(&kind, &url, 0, n, None))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .sum::<Result<u64, String>>()
    };
    let measured = span.end();
    match result {
        Ok(bytes) => println!(
            "mode={kind}-{mode} pages=0 bytes={bytes} requests={}{measured} version={kind}",
            threads * n
        ),
        Err(e) => {
            eprintln!("stack_floor: {url}: {e}");
            std::process::exit(1);
        }
    }
}
